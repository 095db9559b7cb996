/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "core/codes.h"
#include "daemon/notify.h"

/* Two decimals of an integer in hundredths, sign kept for -0.xx. */
static int fmt_centi(char *buf, size_t cap, int64_t centi)
{
	uint64_t a = centi < 0 ? (uint64_t)(-centi) : (uint64_t)centi;

	return snprintf(buf, cap, "%s%" PRIu64 ".%02" PRIu64, centi < 0 ? "-" : "", a / 100,
	                a % 100);
}

/* mV or mA to hundredths of V or A, rounded half away from zero. */
static int64_t milli_to_centi(int32_t milli)
{
	int64_t m = milli;

	return m >= 0 ? (m + 5) / 10 : -((-m + 5) / 10);
}

int codes_format(uint32_t codes, char *buf, size_t cap)
{
	size_t len = 0;

	if (cap == 0)
		return -ENOBUFS;
	buf[0] = '\0';
	if (!(codes & (BMS_CODE_BIT(BMS_CODE_COUNT) - 1))) {
		int n = snprintf(buf, cap, "-");
		return (size_t)n < cap ? n : -ENOBUFS;
	}
	for (unsigned c = 0; c < BMS_CODE_COUNT; c++) {
		if (!(codes & BMS_CODE_BIT(c)))
			continue;
		int n = snprintf(buf + len, cap - len, "%s%s", len ? "," : "",
		                 bms_code_name((enum bms_code)c));
		if (n < 0 || (size_t)n >= cap - len)
			return -ENOBUFS;
		len += (size_t)n;
	}
	return (int)len;
}

int status_format(const struct status_view *v, char *buf, size_t cap)
{
	char soc[24] = "unknown", volt[24] = "unknown", amp[24] = "unknown", codes[128];

	if (v->soc_known)
		fmt_centi(soc, sizeof(soc), v->soc_cpct);
	if (v->bank_mv_valid)
		fmt_centi(volt, sizeof(volt), milli_to_centi(v->bank_mv));
	if (v->current_valid)
		fmt_centi(amp, sizeof(amp), milli_to_centi(v->current_ma));
	if (codes_format(v->codes, codes, sizeof(codes)) < 0)
		return -ENOBUFS;
	int n = snprintf(buf, cap, "ATD=%s ATC=%s PRE=%s SoC=%s V=%s I=%s codes=%s",
	                 v->atd_closed ? "closed" : "open", v->atc_closed ? "closed" : "open",
	                 v->prealarm_active ? "on" : "off", soc, volt, amp, codes);
	if (n < 0 || (size_t)n >= cap)
		return -ENOBUFS;
	return n;
}

int notify_ready(void)
{
	return sd_notify(0, "READY=1");
}

int notify_watchdog(void)
{
	return sd_notify(0, "WATCHDOG=1");
}

int notify_stopping(void)
{
	return sd_notify(0, "STOPPING=1");
}

int notify_status(const char *status)
{
	return sd_notifyf(0, "STATUS=%s", status);
}
