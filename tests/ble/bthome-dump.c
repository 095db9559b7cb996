/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prints the BTHome service data bthome_encode() makes, in hex, for
 * test_bthome.py's independent decoder:
 *   bthome-dump [-p A|B] [-k KEYHEX] [-m MACHEX] [-c COUNTER] SOC_KNOWN
 *               SOC_CPCT MEASURE_VALID BANK_MV CURRENT_MA POWER_MW TEMP_VALID
 *               TEMP_DC TIME_KNOWN TIME_S CODES   (packet A unless -p B)
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
	enum bthome_packet packet = BTHOME_PACKET_A;
	long long counter = 0, a[11];
	ssize_t n;
	int c;

	while ((c = getopt(argc, argv, "p:k:m:c:r:")) != -1) {
		switch (c) {
		case 'p':
			if (strcmp(optarg, "A") && strcmp(optarg, "B"))
				return 2;
			packet = optarg[0] == 'B' ? BTHOME_PACKET_B : BTHOME_PACKET_A;
			break;
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
		if (argc - optind != 11)
			return 2;
		for (int i = 0; i < 11; i++)
			if (num(argv[optind + i], &a[i]) < 0)
				return 2;
		struct bthome_values v = {
		        .soc_known = a[0],
		        .soc_cpct = (int32_t)a[1],
		        .measure_valid = a[2],
		        .bank_mv = (int32_t)a[3],
		        .current_ma = (int32_t)a[4],
		        .power_mw = a[5],
		        .temp_valid = a[6],
		        .temp_dc = (int16_t)a[7],
		        .time_remaining_known = a[8],
		        .time_remaining_s = a[9],
		        .codes = (uint32_t)a[10],
		};
		n = bthome_encode(&v, packet, mac, have_key ? key : NULL, (uint32_t)counter, out,
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
