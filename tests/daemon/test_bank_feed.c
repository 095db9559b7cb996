/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bank_feed: the mapping from the bus master's batteries and the ADC to the
 * protection and monitor inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/protection_settings.h"
#include "core/codes.h"
#include "daemon/bank_feed.h"

#define NOW 100000000ull

struct fx {
	struct m8_battery bat[8];
	struct bank_feed_in in;
	struct bank_feed feed;
	struct bank_feed_out out;
};

static struct fx fx;

/* n batteries of type 1 (4 cells, 100 Ah, 2 sensors), every one fresh with
 * 3300 mV cells, 25.0 degC, 13200 mV and current_ma each. */
static void bank(unsigned n, int32_t current_ma)
{
	memset(&fx, 0, sizeof(fx));
	for (unsigned i = 0; i < n; i++) {
		struct m8_battery *b = &fx.bat[i];

		snprintf(b->info.serial, sizeof(b->info.serial), "TEST%04u", i + 1);
		b->info.type = 1;
		b->info.capacity_ah = 100;
		b->info.cells = 4;
		b->info.sensors = 2;
		b->has_status = true;
		b->status_us = NOW - 1000;
		b->status.voltage_mv = 13200;
		b->status.current_ma = current_ma;
		b->status.n_cells = 4;
		b->status.n_temps = 2;
		for (unsigned c = 0; c < 4; c++)
			b->status.cell_mv[c] = 3300;
		b->status.temp_dc[0] = b->status.temp_dc[1] = 250;
		fx.in.bat[i] = b;
		fx.in.fresh[i] = true;
	}
	fx.in.now_us = NOW;
	fx.in.bank.port_open = true;
	fx.in.bank.enumerated = true;
	fx.in.bank.count = n;
	bank_feed_init(&fx.feed, NULL);
}

static void adc_bank(enum adc_status st, int32_t mv)
{
	fx.in.adc_read = true;
	fx.in.adc[ADC_BANK].status = st;
	fx.in.adc[ADC_BANK].mv = mv;
	for (unsigned s = ADC_REMOTE_H; s < ADC_SIGNAL_COUNT; s++) {
		fx.in.adc[s].status = ADC_VALID;
		fx.in.adc[s].mv = 0;
	}
}

static void run(void)
{
	bank_feed_update(&fx.feed, &fx.in, &fx.out);
}

static void test_battery_mapping(void **state)
{
	bank(2, 0);
	adc_bank(ADC_VALID, 13200);
	fx.bat[1].status.cell_mv[2] = 2900;
	fx.bat[1].status.flags = M8_ST_HARD_UV | M8_ST_BALANCING;
	fx.bat[0].status.flags = M8_ST_FW_UPDATE;
	run();
	const struct protection_input *p = &fx.out.pin;
	assert_int_equal(p->n_batteries, 2);
	assert_true(p->enumerated);
	assert_true(p->bat[0].has_status);
	assert_int_equal(p->bat[0].last_status_us, NOW - 1000);
	assert_int_equal(p->bat[1].n_cells, 4);
	assert_int_equal(p->bat[1].n_temps, 2);
	assert_int_equal(p->bat[1].cell_mv[2], 2900);
	assert_true(p->bat[1].hard_uv);
	assert_false(p->bat[1].hard_ov);
	assert_true(p->bat[1].balancing);
	assert_true(p->bat[0].fw_update);
	assert_false(p->bat[0].count_mismatch);
	assert_false(p->bat[0].fault);
}

static void test_stale_mapping(void **state)
{
	bank(2, 0);
	adc_bank(ADC_VALID, 13200);
	fx.bat[0].status.n_temps = 1; /* INFO says 2 sensors */
	fx.bat[1].status.flags = M8_ST_FAULT;
	run();
	assert_true(fx.out.pin.bat[0].count_mismatch);
	assert_false(fx.out.pin.bat[1].count_mismatch);
	assert_true(fx.out.pin.bat[1].fault);

	/* A battery that never reported carries no time and no values. */
	bank(1, 0);
	fx.bat[0].has_status = false;
	fx.in.fresh[0] = false;
	run();
	assert_false(fx.out.pin.bat[0].has_status);
	assert_int_equal(fx.out.pin.bat[0].n_cells, 0);
	assert_false(fx.out.min.all_fresh);

	/* The chain and enumeration flags pass through. */
	bank(1, 0);
	fx.in.bank.chain_open = true;
	fx.in.bank.enum_failed = true;
	run();
	assert_true(fx.out.pin.chain_open);
	assert_true(fx.out.pin.enum_failed);
	assert_false(fx.out.min.all_fresh);
	assert_false(fx.out.pin.current_valid); /* an open chain makes every battery stale */
}

static void test_min_max_exclusion(void **state)
{
	bank(2, 0);
	adc_bank(ADC_VALID, 13200);
	fx.bat[0].status.cell_mv[0] = 0xFFFF;
	fx.bat[0].status.cell_mv[1] = 3100;
	fx.bat[1].status.cell_mv[3] = 3450;
	fx.bat[0].status.temp_dc[0] = 0x7FFF;
	fx.bat[1].status.temp_dc[1] = -55;
	fx.bat[0].status.temp_dc[1] = 310;
	run();
	assert_int_equal(fx.out.min.min_cell_mv, 3100);
	assert_int_equal(fx.out.min.max_cell_mv, 3450);
	assert_int_equal(fx.out.min.min_temp_dc, -55);
	assert_int_equal(fx.out.min.max_temp_dc, 310);
	/* The protection gets the markers as they are and skips them itself. */
	assert_int_equal(fx.out.pin.bat[0].cell_mv[0], PROTECTION_CELL_NA);
	assert_int_equal(fx.out.pin.bat[0].temp_dc[0], PROTECTION_TEMP_NA);

	/* Nothing available at all: the markers. */
	bank(1, 0);
	for (unsigned c = 0; c < 4; c++)
		fx.bat[0].status.cell_mv[c] = 0xFFFF;
	fx.bat[0].status.temp_dc[0] = fx.bat[0].status.temp_dc[1] = 0x7FFF;
	run();
	assert_int_equal(fx.out.min.min_cell_mv, 0xFFFF);
	assert_int_equal(fx.out.min.max_cell_mv, 0xFFFF);
	assert_int_equal(fx.out.min.min_temp_dc, 0x7FFF);
	assert_int_equal(fx.out.min.max_temp_dc, 0x7FFF);

	/* A stale battery's values do not enter the monitor's extremes. */
	bank(2, 0);
	fx.bat[1].status.cell_mv[0] = 2000;
	fx.in.fresh[1] = false;
	run();
	assert_int_equal(fx.out.min.min_cell_mv, 3300);
}

static void test_current_over_s(void **state)
{
	/* 2S2P, 10 A charging in each battery: 40 A summed / 2 in series. */
	bank(4, 10000);
	adc_bank(ADC_VALID, 26400);
	run();
	assert_true(fx.out.have_topology);
	assert_int_equal(fx.out.topo.s, 2);
	assert_int_equal(fx.out.pin.series_s, 2);
	assert_int_equal(fx.out.pin.cells_per_battery, 4);
	assert_int_equal(fx.out.pin.capacity_ah, 200);
	assert_true(fx.out.pin.current_valid);
	assert_int_equal(fx.out.pin.current_ma, 20000);
	assert_true(fx.out.min.valid);
	assert_int_equal(fx.out.min.current_ma, 20000);
	assert_true(fx.out.min.all_fresh);

	/* One stale: the three fresh ones stand for all four. */
	fx.in.fresh[3] = false;
	fx.bat[3].status.current_ma = 99999;
	run();
	assert_int_equal(fx.out.pin.current_ma, 20000);
	assert_false(fx.out.min.all_fresh);

	/* None fresh: no current. */
	for (unsigned i = 0; i < 4; i++)
		fx.in.fresh[i] = false;
	run();
	assert_false(fx.out.pin.current_valid);
	assert_false(fx.out.min.valid);
}

static void test_adc_bank_voltage(void **state)
{
	bank(4, 0); /* 2S2P, mean battery 13200 mV: 26400 mV expected */
	adc_bank(ADC_VALID, 26500);
	run();
	assert_true(fx.out.pin.bank_mv_valid);
	assert_int_equal(fx.out.pin.bank_mv, 26500);
	assert_false(fx.out.pin.adc_fallback);
	assert_true(fx.out.adc_bank_used);

	/* Missing channel: S x mean battery voltage, W6, for both. */
	adc_bank(ADC_MISSING, 0);
	run();
	assert_true(fx.out.pin.bank_mv_valid);
	assert_int_equal(fx.out.pin.bank_mv, 26400);
	assert_int_equal(fx.out.shown_mv, 26400);
	assert_true(fx.out.pin.adc_fallback);

	/* ADC not open at all: the same. */
	fx.in.adc_read = false;
	run();
	assert_true(fx.out.pin.bank_mv_valid);
	assert_int_equal(fx.out.pin.bank_mv, 26400);
	assert_true(fx.out.pin.adc_fallback);

	/* Implausible (beyond 10 % of S x mean): the protection still gets the
	 * ADC's reading; the monitor shows S x mean, W6. */
	adc_bank(ADC_VALID, 29100);
	run();
	assert_int_equal(fx.out.pin.bank_mv, 29100);
	assert_true(fx.out.shown_mv_valid);
	assert_int_equal(fx.out.shown_mv, 26400);
	assert_int_equal(fx.out.min.bank_mv, 26400);
	assert_false(fx.out.adc_bank_used);
	assert_true(fx.out.pin.adc_fallback);
	adc_bank(ADC_VALID, 29000); /* within 10 % */
	run();
	assert_int_equal(fx.out.pin.bank_mv, 29000);
	assert_int_equal(fx.out.shown_mv, 29000);
	assert_int_equal(fx.out.min.bank_mv, 29000);
	assert_false(fx.out.pin.adc_fallback);

	/* Clipped is an ADC fault: no bank voltage (E8), no fallback. */
	adc_bank(ADC_CLIPPED, 0);
	run();
	assert_false(fx.out.pin.bank_mv_valid);
	assert_false(fx.out.shown_mv_valid);
	assert_false(fx.out.pin.adc_fallback);

	/* Missing ADC and no fresh battery: nothing to stand in. */
	adc_bank(ADC_READ_ERROR, 0);
	for (unsigned i = 0; i < 4; i++)
		fx.in.fresh[i] = false;
	run();
	assert_false(fx.out.pin.bank_mv_valid);
	assert_false(fx.out.pin.adc_fallback);
}

static void test_remote_and_readback(void **state)
{
	bank(1, 0);
	adc_bank(ADC_VALID, 13200);
	fx.in.adc[ADC_REMOTE_H].mv = 6000;
	fx.in.adc[ADC_REMOTE_L].mv = 6100;
	fx.in.adc[ADC_CHARGE_READBACK].mv = 13100;
	run();
	assert_true(fx.out.pin.remote_vh_valid);
	assert_int_equal(fx.out.pin.remote_vh_mv, 6000);
	assert_int_equal(fx.out.pin.remote_vl_mv, 6100);
	assert_true(fx.out.pin.readback_valid);
	assert_int_equal(fx.out.pin.readback_mv, 13100);

	fx.in.adc[ADC_REMOTE_L].status = ADC_READ_ERROR;
	fx.in.adc[ADC_CHARGE_READBACK].status = ADC_CLIPPED;
	run();
	assert_false(fx.out.pin.remote_vl_valid);
	assert_false(fx.out.pin.readback_valid);

	/* Not wired: the terminal reads as "L pulled to minus" (ON) and the
	 * read-back is never checked, whatever the ADC says. */
	fx.in.remote_none = fx.in.readback_none = true;
	fx.in.adc_read = false;
	run();
	assert_true(fx.out.pin.remote_vl_valid);
	assert_true(fx.out.pin.remote_vh_valid);
	assert_true(fx.out.pin.remote_vl_mv < 3500);
	assert_false(fx.out.pin.readback_valid);
}

static void test_identity_first_and_later(void **state)
{
	bank(4, 0);
	adc_bank(ADC_VALID, 26400);
	run();
	assert_true(fx.out.identity_stored);
	assert_true(fx.feed.have_identity);
	assert_int_equal(fx.feed.identity.n, 4);
	assert_int_equal(fx.feed.identity.s, 2);
	assert_false(fx.out.pin.topology_bad);

	/* Stored once; S is not derived again even if the ADC now says 4S. */
	adc_bank(ADC_VALID, 52800);
	run();
	assert_false(fx.out.identity_stored);
	assert_int_equal(fx.out.pin.series_s, 2);
	assert_int_equal(fx.out.match, BANK_ID_SAME);
	assert_false(fx.out.pin.bank_changed);
	assert_false(fx.out.pin.more_batteries);

	/* A replaced serial: E3. */
	struct bank_identity id = fx.feed.identity;
	bank(4, 0);
	bank_feed_init(&fx.feed, &id);
	adc_bank(ADC_VALID, 26400);
	snprintf(fx.bat[2].info.serial, sizeof(fx.bat[2].info.serial), "OTHER01");
	run();
	assert_true(fx.out.pin.bank_changed);
	assert_false(fx.out.identity_stored);
	assert_int_equal(fx.out.pin.series_s, 2); /* the remembered S still applies */

	/* Fewer: E3. */
	bank(3, 0);
	bank_feed_init(&fx.feed, &id);
	run();
	assert_true(fx.out.pin.bank_changed);

	/* More: W8 only. */
	bank(6, 0);
	bank_feed_init(&fx.feed, &id);
	run();
	assert_false(fx.out.pin.bank_changed);
	assert_true(fx.out.pin.more_batteries);
	assert_int_equal(fx.out.pin.capacity_ah, 200); /* the remembered bank's */

	/* Not enumerated: no comparison yet. */
	bank(3, 0);
	bank_feed_init(&fx.feed, &id);
	fx.in.bank.enumerated = false;
	run();
	assert_false(fx.out.pin.bank_changed);
}

static void test_topology_first_install(void **state)
{
	/* No ADC and nothing remembered: S cannot be derived, E6. */
	bank(4, 0);
	run();
	assert_true(fx.out.pin.topology_bad);
	assert_false(fx.feed.have_identity);
	assert_false(fx.out.pin.current_valid);

	/* No battery voltage yet (none fresh): wait, no E6. */
	bank(4, 0);
	adc_bank(ADC_VALID, 26400);
	for (unsigned i = 0; i < 4; i++)
		fx.in.fresh[i] = false;
	run();
	assert_false(fx.out.pin.topology_bad);
	assert_false(fx.feed.have_identity);

	/* A bank voltage no S fits: E6, nothing remembered. */
	bank(4, 0);
	adc_bank(ADC_VALID, 40000);
	run();
	assert_true(fx.out.pin.topology_bad);
	assert_false(fx.feed.have_identity);

	/* Not enumerated: nothing decided. */
	bank(4, 0);
	adc_bank(ADC_VALID, 26400);
	fx.in.bank.enumerated = false;
	run();
	assert_false(fx.out.pin.topology_bad);
	assert_false(fx.feed.have_identity);
}

static void test_soc_and_flags(void **state)
{
	bank(1, 0);
	adc_bank(ADC_VALID, 13200);
	fx.in.soc_known = true;
	fx.in.soc_cpct = 4567;
	fx.in.soc_events = 3;
	fx.in.record_unreadable = true;
	fx.in.active_codes = 0x1234;
	run();
	assert_true(fx.out.pin.soc_known);
	assert_int_equal(fx.out.pin.soc_cpct, 4567);
	assert_int_equal(fx.out.pin.soc_sync_count, 3);
	assert_true(fx.out.pin.record_unreadable);
	assert_int_equal(fx.out.min.active_codes, 0x1234);
	assert_int_equal(fx.out.min.bank_mv, 13200);
}

/* Issue 13 item 3: the bank over-voltage backstop (A3) uses every valid ADC
 * reading, whatever the batteries report; plausibility only decides what is
 * shown, and a disagreement raises W6. The 12 V bank of the issue: 15.0 V
 * on the ADC, 13.6 V from the battery (+10.3 %), must trip A3 after 2 s. */
static void test_backstop_sees_implausible_adc(void **state)
{
	struct protection_settings ps;
	struct protection prot;
	struct protection_output o;

	bank(1, 0);
	fx.bat[0].status.voltage_mv = 13600;
	for (unsigned c = 0; c < 4; c++)
		fx.bat[0].status.cell_mv[c] = 3400;
	fx.in.soc_known = true;
	fx.in.soc_cpct = 8000;
	adc_bank(ADC_VALID, 13600);
	run();
	assert_true(fx.out.have_topology);
	protection_settings_default(&ps);
	assert_int_equal(protection_init(&prot, &ps, -1), 0);

	uint64_t t = NOW;
	for (unsigned i = 0; i < 10; i++, t += 100000) {
		fx.in.now_us = t;
		fx.bat[0].status_us = t;
		run();
		protection_step(&prot, t, &fx.out.pin, &o);
	}
	assert_true(o.atc_closed);
	assert_false(o.codes & BMS_CODE_BIT(BMS_W6));

	adc_bank(ADC_VALID, 15001); /* 4 x 3750 mV = 15.0 V is the trip level: just above */
	uint64_t t_over = t;
	for (; t < t_over + 2500000; t += 100000) {
		fx.in.now_us = t;
		fx.bat[0].status_us = t;
		run();
		/* the backstop sees the ADC; the monitor shows the batteries' sum */
		assert_true(fx.out.pin.bank_mv_valid);
		assert_int_equal(fx.out.pin.bank_mv, 15001);
		assert_true(fx.out.pin.adc_fallback);
		assert_int_equal(fx.out.min.bank_mv, 13600);
		assert_true(fx.out.shown_mv_valid);
		assert_int_equal(fx.out.shown_mv, 13600);
		assert_false(fx.out.adc_bank_used);
		protection_step(&prot, t, &fx.out.pin, &o);
		assert_true(o.codes & BMS_CODE_BIT(BMS_W6));
		if (t - t_over < 2000000)
			assert_true(o.atc_closed);
	}
	assert_false(o.atc_closed);
	assert_true(o.codes & BMS_CODE_BIT(BMS_A3));
	assert_true(o.atd_closed);
}

/* ---- issue 16: the extremes kept one reading at a time ---- */

static struct m8_battery big[PROTECTION_MAX_BATTERIES];

static uint32_t xs(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static struct bank_extreme ref(const struct bank_feed_in *in, unsigned n, bool monitor,
                               enum bank_ext_dim d)
{
	struct bank_extreme r = {.battery = -1, .index = -1};
	bool cells = d == BANK_EXT_MIN_CELL || d == BANK_EXT_MAX_CELL;
	bool min = d == BANK_EXT_MIN_CELL || d == BANK_EXT_MIN_TEMP;

	for (unsigned b = 0; b < n; b++) {
		const struct m8_battery *bat = in->bat[b];
		if (!bat->has_status)
			continue;
		if (monitor && (!in->fresh[b] || (bat->status.flags & M8_ST_FAULT)))
			continue;
		unsigned cnt = cells ? bat->status.n_cells : bat->status.n_temps;
		for (unsigned i = 0; i < cnt; i++) {
			int32_t v = cells ? bat->status.cell_mv[i] : bat->status.temp_dc[i];
			if (cells ? v == 0xFFFF : v == 0x7FFF)
				continue;
			if (!r.known || (min ? v < r.value : v > r.value))
				r = (struct bank_extreme){.known = true,
				                          .value = v,
				                          .battery = (int16_t)b,
				                          .index = (int16_t)i};
		}
	}
	return r;
}

static void check_extremes(unsigned n, uint32_t seed, unsigned step)
{
	const struct protection_input *pin = &fx.out.pin;
	const struct monitor_input *m = &fx.out.min;

	assert_true(pin->have_extremes);
	for (unsigned d = 0; d < BANK_EXT_DIMS; d++) {
		struct bank_extreme want = ref(&fx.in, n, false, (enum bank_ext_dim)d);
		const struct bank_extreme *got = &pin->extremes[d];
		if (got->known != want.known ||
		    (want.known && (got->value != want.value || got->battery != want.battery ||
		                    got->index != want.index)))
			fail_msg("seed %u step %u dim %u: feed %d at %d/%d, scan %d at %d/%d", seed,
			         step, d, got->value, got->battery, got->index, want.value,
			         want.battery, want.index);
	}
	struct bank_extreme w = ref(&fx.in, n, true, BANK_EXT_MIN_CELL);
	assert_int_equal(m->min_cell_mv, w.known ? w.value : 0xFFFF);
	w = ref(&fx.in, n, true, BANK_EXT_MAX_CELL);
	assert_int_equal(m->max_cell_mv, w.known ? w.value : 0xFFFF);
	w = ref(&fx.in, n, true, BANK_EXT_MIN_TEMP);
	assert_int_equal(m->min_temp_dc, w.known ? w.value : 0x7FFF);
	w = ref(&fx.in, n, true, BANK_EXT_MAX_TEMP);
	assert_int_equal(m->max_temp_dc, w.known ? w.value : 0x7FFF);
}

static void test_extremes_incremental(void **state)
{
	uint32_t seed = 1616, s = seed;
	uint64_t t = NOW;
	unsigned n = PROTECTION_MAX_BATTERIES;

	print_message("seed %u\n", seed);
	memset(&fx, 0, sizeof(fx));
	memset(big, 0, sizeof(big));
	for (unsigned i = 0; i < PROTECTION_MAX_BATTERIES; i++) {
		snprintf(big[i].info.serial, sizeof(big[i].info.serial), "BIG%04u", i + 1);
		big[i].info.type = 2;
		big[i].info.capacity_ah = 100;
		big[i].info.cells = 8;
		big[i].info.sensors = 4;
		fx.in.bat[i] = &big[i];
	}
	fx.in.bank.port_open = fx.in.bank.enumerated = true;
	bank_feed_init(&fx.feed, NULL);
	for (unsigned step = 0; step < 4000; step++) {
		unsigned b = xs(&s) % PROTECTION_MAX_BATTERIES, what = xs(&s) % 100;
		struct m8_battery *bat = &big[b];

		if (what < 60) { /* a new reading */
			bat->has_status = true;
			bat->status_us = ++t;
			bat->status.n_cells = 8;
			bat->status.n_temps = 4;
			for (unsigned c = 0; c < 8; c++)
				bat->status.cell_mv[c] =
				        xs(&s) % 9 == 0 ? 0xFFFF : (uint16_t)(3190 + xs(&s) % 20);
			for (unsigned k = 0; k < 4; k++)
				bat->status.temp_dc[k] =
				        xs(&s) % 7 == 0 ? 0x7FFF : (int16_t)(240 + xs(&s) % 20);
			bat->status.flags = xs(&s) % 10 == 0 ? M8_ST_FAULT : 0;
			fx.in.fresh[b] = true;
		} else if (what < 80) { /* stale, or fresh again */
			fx.in.fresh[b] = !fx.in.fresh[b];
		} else if (what < 85) { /* replaced: no STATUS yet */
			bat->has_status = false;
		} else if (what < 90) { /* the bank shrinks or grows back */
			n = 40 + xs(&s) % 11;
		}
		fx.in.bank.count = n;
		fx.in.now_us = t;
		uint64_t before = fx.feed.ext_updates;
		run();
		check_extremes(n, seed, step);
		/* the same input again: no battery is taken anew */
		assert_true(fx.feed.ext_updates - before <= 2 * PROTECTION_MAX_BATTERIES);
		before = fx.feed.ext_updates;
		run();
		assert_int_equal(fx.feed.ext_updates, before);
		check_extremes(n, seed, step);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_battery_mapping),
	        cmocka_unit_test(test_stale_mapping),
	        cmocka_unit_test(test_min_max_exclusion),
	        cmocka_unit_test(test_current_over_s),
	        cmocka_unit_test(test_adc_bank_voltage),
	        cmocka_unit_test(test_remote_and_readback),
	        cmocka_unit_test(test_identity_first_and_later),
	        cmocka_unit_test(test_topology_first_install),
	        cmocka_unit_test(test_soc_and_flags),
	        cmocka_unit_test(test_backstop_sees_implausible_adc),
	        cmocka_unit_test(test_extremes_incremental),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
