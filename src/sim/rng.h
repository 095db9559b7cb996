/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small seeded pseudo-random generator (xorshift64*), so that a run of the
 * simulator is reproducible from its --seed. Not for anything secret. */
#pragma once

#include <stdint.h>

struct sim_rng {
	uint64_t state;
};

static inline void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	/* splitmix64 step: any seed, 0 included, gives a non-zero state */
	uint64_t z = seed + 0x9E3779B97F4A7C15ull;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	r->state = z ? z : 1;
}

static inline uint64_t sim_rng_next(struct sim_rng *r)
{
	r->state ^= r->state >> 12;
	r->state ^= r->state << 25;
	r->state ^= r->state >> 27;
	return r->state * 0x2545F4914F6CDD1Dull;
}

/* Uniform in lo..hi (inclusive), lo <= hi. */
static inline int64_t sim_rng_range(struct sim_rng *r, int64_t lo, int64_t hi)
{
	uint64_t span = (uint64_t)(hi - lo) + 1;

	return lo + (int64_t)(sim_rng_next(r) % span);
}
