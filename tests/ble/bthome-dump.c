/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prints the BTHome service data bthome_encode() makes, in hex, for
 * test_bthome.py's independent decoder:
 *   bthome-dump [-k KEYHEX] [-m MACHEX] [-c COUNTER] SOC_KNOWN SOC_CPCT
 *               MEASURE_VALID BANK_MV CURRENT_MA TEMP_VALID TEMP_DC CODES
 *   bthome-dump -r OBJECTSHEX -k KEYHEX -m MACHEX -c COUNTER   (encrypt only)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ble/bthome.h"

static int unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > cap)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static int num(const char *s, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 0);
	return errno || *end || end == s ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	uint8_t key[16], mac[6] = {0}, raw[64], out[64];
	bool have_key = false;
	int raw_len = -1;
	long long counter = 0, a[8];
	ssize_t n;
	int c;

	while ((c = getopt(argc, argv, "k:m:c:r:")) != -1) {
		switch (c) {
		case 'k':
			if (unhex(optarg, key, sizeof(key)) != 16)
				return 2;
			have_key = true;
			break;
		case 'm':
			if (unhex(optarg, mac, sizeof(mac)) != 6)
				return 2;
			break;
		case 'c':
			if (num(optarg, &counter) < 0 || counter < 0 || counter > UINT32_MAX)
				return 2;
			break;
		case 'r':
			raw_len = unhex(optarg, raw, sizeof(raw));
			if (raw_len < 0)
				return 2;
			break;
		default:
			return 2;
		}
	}
	if (raw_len >= 0) {
		if (!have_key)
			return 2;
		n = bthome_encrypt(raw, (size_t)raw_len, mac, key, (uint32_t)counter, out,
		                   sizeof(out));
	} else {
		if (argc - optind != 8)
			return 2;
		for (int i = 0; i < 8; i++)
			if (num(argv[optind + i], &a[i]) < 0)
				return 2;
		struct bthome_values v = {
		        .soc_known = a[0],
		        .soc_cpct = (int32_t)a[1],
		        .measure_valid = a[2],
		        .bank_mv = (int32_t)a[3],
		        .current_ma = (int32_t)a[4],
		        .temp_valid = a[5],
		        .temp_dc = (int16_t)a[6],
		        .codes = (uint32_t)a[7],
		};
		n = bthome_encode(&v, mac, have_key ? key : NULL, (uint32_t)counter, out,
		                  sizeof(out));
	}
	if (n < 0) {
		fprintf(stderr, "bthome: %s\n", strerror((int)-n));
		return 1;
	}
	for (ssize_t i = 0; i < n; i++)
		printf("%02x", out[i]);
	printf("\n");
	return 0;
}
