/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one table of protection rules (docs/protection.md sections 1-3, docs/board.md).
 *
 * Choices where the specification is ambiguous (each also in the report):
 *
 * - High discharge temperature (A6) releases at trip - max(hysteresis,
 *   5.0 degC): the rule table's 55.0 degC with the default 2 degC
 *   hysteresis, and a larger hysteresis setting is still honoured. Every
 *   other temperature rule releases at trip -/+ the hysteresis setting
 *   (W9 7.0, A4 48.0, A7 -18.0 with the defaults).
 * - Release holds of the temperature rules are fixed, as in the rule
 *   tables: 30 s for the charge rules (W9, A4), 60 s for the discharge rules
 *   (A6, A7). Section 6 has no setting for them.
 * - The W2 pre-alarm delay (2 s) and release hold (30 s) and its release
 *   margin (+100 mV) are fixed, not settings. The bank over-voltage backstop
 *   uses a fixed 2 s delay and the OV release hold setting.
 * - "The pre-alarm re-arms when that rule releases": the 60 s drain guard
 *   starts when ATD first becomes held by any of A1, A2, A5 and ends when
 *   none of them holds it any more; the pre-alarm then follows its causes
 *   again.
 * - A rule that waits for the lead also trips without it while ATD is
 *   already open for another rule (there is nothing left to warn about, and
 *   otherwise the drain guard or remote OFF, which silence the pre-alarm,
 *   could let ATD close and reopen when the first rule releases). ATD never
 *   *opens* for such a rule without the lead.
 * - A lead rule keeps the pre-alarm active while it is counting, waiting,
 *   and also while it holds ATD (the buzzer says why the loads are off),
 *   subject to the drain guard and remote OFF.
 * - A battery's internal-fault flag is handled by the stale-data rules (the
 *   battery is stale, E4 is reported besides E1); anti-chatter of the stale
 *   rules therefore covers the internal fault. A latched stale rule warns
 *   W3 but still releases after 5 s of fresh data.
 * - Anti-chatter applies to A1, A2 (level and hard flag), A3 (cell level and
 *   hard flag), A4, A6, A7, W9 and the stale rules; not to the bank
 *   over-voltage backstop, remote off, W1/W2/W5/E3/E5/E6/E7/W7.
 * - "Nothing closes on unknown data" (section 0, rev 3): every release is
 *   false while any battery is stale, exempt from staleness (firmware
 *   update window) or only covered by the staleness window after a resume,
 *   also of the rules on other inputs (remote, SoC, ADC, update state,
 *   installer acceptance). A release hold starts on fresh data.
 * - An unknown quantity (no valid ADC reading, no temperature sensor, SoC
 *   unknown) neither starts nor breaks a countdown: a running countdown
 *   continues and may complete, as with a stale battery's last values; a
 *   release on an unknown quantity is false.
 * - W5 releases at once inside 9.0-67.5 V (the 0.5 V hysteresis); E7
 *   releases at once when the read-back agrees again.
 * - E5 counts its 120 s from the failure time given by the updater
 *   (fw_failed_since_us) and makes the pre-alarm active from the failure.
 * - Low-SoC alarm and warning levels compare SoC (0.01 %) with the setting
 *   x 100: trip at SoC <= level, release at SoC >= level + 2 % points; the
 *   warning needs no synchronisation to release, the alarm does.
 * - Cold start: a rule whose trip condition holds in the first complete
 *   data set starts tripped without its delay and without the lead.
 * - Low-power shutdown needs ATD held by A1/A2/A5 or remote OFF and a
 *   known bank current below 0.5 % of capacity, both continuously for
 *   10 min. Unknown current or capacity never asks for a power-off.
 * - Staleness: a battery is stale from 3 s after its last valid STATUS
 *   (exactly at 3 s), or at once when it has never reported. A bank with
 *   no battery at all counts as stale (unknown), never as healthy.
 * - Codes: a rule's code stays active while the rule holds (E1 until the
 *   stale rule's 5 s of fresh data are over); E1 is also active at once
 *   while any battery is stale, E5 from the failure (not only after the
 *   120 s), E8 while the ADC bank channel is invalid or the remote terminal
 *   has been unreadable for 5 s.
 * - Low-SoC alarm release: any synchronisation or manual set since the trip,
 *   then SoC >= floor + 2 % points (the two need not coincide).
 * - Low-SoC alarm trip (rev 3): it waits for the pre-alarm lead when its
 *   condition becomes true at a step where the synchronisation count or
 *   the floor setting changed since the previous step (a manual set, a
 *   floor change); otherwise (discharge) it opens ATD at once. While it
 *   waits it is a cause of the pre-alarm, as the lead rules are.
 * - Remote terminal: the first readable reading decides its state without
 *   debounce (outputs are held by the cold start then); a restart restores
 *   the saved state, so a restart never turns the loads off for 200 ms. The
 *   debounce is a configuration value (default 200 ms), not a setting of
 *   section 6.
 * - Restart: trip countdowns resume from their saved ages; the time the
 *   daemon was down does not count (as the brief's "restore as now - age").
 *   Release holds do not resume: the time the daemon was down is unknown
 *   data, so a hold starts again on the new instance's fresh data
 *   (section 11: the release must be seen on fresh data).
 * - Start-up (rev 3): only an instance that adopted the output lines
 *   resumes; any other start is a cold start with the saved rule states,
 *   latches and countdowns restored, frozen until the first complete fresh
 *   data set, then evaluated (a saved trip still needs its own release).
 * - Staleness window after a resume: the batteries fresh (on real data) at
 *   the last save count as not stale for 3 s after the resume, by their
 *   index on the bus; before the bus is enumerated the bank is not stale
 *   only when every battery of the saved bank was fresh. A battery only
 *   covered by the window is unknown data (no release, ATC stays open) and
 *   is saved as not fresh, so that restarts in a row do not stretch it.
 * - The lines adopted after a resume outrank an older record (a crash
 *   before the save): an output found open stays open until the first
 *   complete fresh data set (ATD by the start-up rule; ATC is held until
 *   then anyway), and on that set the rules of that output start tripped
 *   without their delay or lead, as at a cold start.
 * - Anti-chatter never counts a trip made while the instance is starting
 *   (cold start or resume, up to and including the step of its first
 *   complete fresh data set): a restart is never chatter (section 11).
 * - No ordering rule beyond section 6 is enforced: critical UV level may
 *   exceed the UV trip level (2.70 V vs 2.60 V), and W9 and A4 release
 *   bands may overlap with a 10 degC hysteresis (ATC then stays open until
 *   the temperature leaves the overlap, which is safe).
 */
#include "core/protection_rules.h"

#include <stddef.h>

#define ATD  PROT_T_ATD
#define ATC  PROT_T_ATC
#define PRE  PROT_T_PREALARM
#define WARN PROT_T_WARNING
#define NC   PROTECTION_NO_CODE

/* clang-format off */
static const struct protection_rule rules[PROT_RULE_COUNT] = {
	[PROT_R_STARTUP_ATD] = {
		.id = PROT_R_STARTUP_ATD, .code = NC, .name = "start-up",
		.target = ATD,
		.trip_q = PROT_Q_COLD_START, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_ZERO,
		.flags = PROT_F_ALWAYS | PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_STARTUP_ATC] = {
		.id = PROT_R_STARTUP_ATC, .code = NC, .name = "start-up",
		.target = ATC,
		.trip_q = PROT_Q_NOT_RESUMED, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_ZERO,
		.flags = PROT_F_ALWAYS | PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_REMOTE_OFF] = {
		.id = PROT_R_REMOTE_OFF, .code = NC, .name = "remote off",
		.target = ATD | ATC,
		.trip_q = PROT_Q_REMOTE_OFF, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_ZERO,
		.flags = PROT_F_ALWAYS | PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_UV] = {
		.id = PROT_R_UV, .code = BMS_A1, .name = "cell under-voltage",
		.target = ATD,
		.trip_q = PROT_Q_MIN_CELL, .trip_cmp = PROT_CMP_LT, .trip_level = PROT_L_UV_TRIP,
		.delay = PROT_TM_UV,
		.release_q = PROT_Q_MIN_CELL, .release_cmp = PROT_CMP_GE, .release_level = PROT_L_UV_RELEASE,
		.hold = PROT_TM_UV_HOLD,
		.flags = PROT_F_LEAD | PROT_F_CHATTER | PROT_F_DRAIN,
	},
	[PROT_R_CRIT_UV] = {
		.id = PROT_R_CRIT_UV, .code = BMS_A2, .name = "critical under-voltage",
		.target = ATD,
		.trip_q = PROT_Q_MIN_CELL, .trip_cmp = PROT_CMP_LT, .trip_level = PROT_L_CRIT_UV,
		.delay = PROT_TM_CRIT_UV,
		.release_q = PROT_Q_MIN_CELL, .release_cmp = PROT_CMP_GE, .release_level = PROT_L_UV_RELEASE,
		.hold = PROT_TM_UV_HOLD,
		.flags = PROT_F_CHATTER | PROT_F_DRAIN,
	},
	[PROT_R_HARD_UV] = {
		.id = PROT_R_HARD_UV, .code = BMS_A2, .name = "hard under-voltage flag",
		.target = ATD,
		.trip_q = PROT_Q_HARD_UV, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_MIN_CELL, .release_cmp = PROT_CMP_GE, .release_level = PROT_L_UV_RELEASE,
		.hold = PROT_TM_UV_HOLD,
		.flags = PROT_F_CHATTER | PROT_F_DRAIN | PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_LOW_SOC] = {
		.id = PROT_R_LOW_SOC, .code = BMS_A5, .name = "low SoC",
		.target = ATD,
		.trip_q = PROT_Q_SOC, .trip_cmp = PROT_CMP_LE, .trip_level = PROT_L_SOC_FLOOR,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_SOC, .release_cmp = PROT_CMP_GE, .release_level = PROT_L_SOC_FLOOR_RELEASE,
		.hold = PROT_TM_ZERO,
		.flags = PROT_F_NEEDS_SYNC | PROT_F_DRAIN | PROT_F_LEAD_ON_SET,
	},
	[PROT_R_DIS_HOT] = {
		.id = PROT_R_DIS_HOT, .code = BMS_A6, .name = "too hot to discharge",
		.target = ATD,
		.trip_q = PROT_Q_MAX_TEMP, .trip_cmp = PROT_CMP_GT, .trip_level = PROT_L_DIS_HIGH,
		.delay = PROT_TM_TEMP,
		.release_q = PROT_Q_MAX_TEMP, .release_cmp = PROT_CMP_LE, .release_level = PROT_L_DIS_HIGH_RELEASE,
		.hold = PROT_TM_60S,
		.flags = PROT_F_LEAD | PROT_F_CHATTER,
	},
	[PROT_R_DIS_COLD] = {
		.id = PROT_R_DIS_COLD, .code = BMS_A7, .name = "too cold to discharge",
		.target = ATD,
		.trip_q = PROT_Q_MIN_TEMP, .trip_cmp = PROT_CMP_LT, .trip_level = PROT_L_DIS_LOW,
		.delay = PROT_TM_TEMP,
		.release_q = PROT_Q_MIN_TEMP, .release_cmp = PROT_CMP_GE, .release_level = PROT_L_DIS_LOW_RELEASE,
		.hold = PROT_TM_60S,
		.flags = PROT_F_LEAD | PROT_F_CHATTER,
	},
	[PROT_R_STALE_ATD] = {
		.id = PROT_R_STALE_ATD, .code = BMS_E1, .name = "battery data stale",
		.target = ATD,
		.trip_q = PROT_Q_STALE, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_5S,
		.flags = PROT_F_LEAD | PROT_F_CHATTER | PROT_F_CHATTER_NOHOLD | PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_CHANGED_ATD] = {
		.id = PROT_R_CHANGED_ATD, .code = BMS_E3, .name = "bank changed",
		.target = ATD,
		.trip_q = PROT_Q_BANK_CHANGED, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_ZERO,
		.flags = PROT_F_LEAD | PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_FW_FAILED] = {
		.id = PROT_R_FW_FAILED, .code = BMS_E5, .name = "firmware update failed",
		.target = ATD,
		.trip_q = PROT_Q_FW_FAILED, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_120S,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_ZERO,
		.flags = PROT_F_START_FROM_INPUT | PROT_F_WARNS | PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_OV] = {
		.id = PROT_R_OV, .code = BMS_A3, .name = "cell over-voltage",
		.target = ATC,
		.trip_q = PROT_Q_MAX_CELL, .trip_cmp = PROT_CMP_GT, .trip_level = PROT_L_OV_TRIP,
		.delay = PROT_TM_OV,
		.release_q = PROT_Q_MAX_CELL, .release_cmp = PROT_CMP_LE, .release_level = PROT_L_OV_RELEASE,
		.hold = PROT_TM_OV_HOLD,
		.flags = PROT_F_CHATTER,
	},
	[PROT_R_HARD_OV] = {
		.id = PROT_R_HARD_OV, .code = BMS_A3, .name = "hard over-voltage flag",
		.target = ATC,
		.trip_q = PROT_Q_HARD_OV, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_MAX_CELL, .release_cmp = PROT_CMP_LE, .release_level = PROT_L_OV_RELEASE,
		.hold = PROT_TM_OV_HOLD,
		.flags = PROT_F_CHATTER | PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_BANK_OV] = {
		.id = PROT_R_BANK_OV, .code = BMS_A3, .name = "bank over-voltage",
		.target = ATC,
		.trip_q = PROT_Q_BANK_MV, .trip_cmp = PROT_CMP_GT, .trip_level = PROT_L_BANK_OV_TRIP,
		.delay = PROT_TM_2S,
		.release_q = PROT_Q_BANK_MV, .release_cmp = PROT_CMP_LE, .release_level = PROT_L_BANK_OV_RELEASE,
		.hold = PROT_TM_OV_HOLD,
		.flags = 0,
	},
	[PROT_R_CHG_COLD] = {
		.id = PROT_R_CHG_COLD, .code = BMS_W9, .name = "too cold to charge",
		.target = ATC,
		.trip_q = PROT_Q_MIN_TEMP, .trip_cmp = PROT_CMP_LT, .trip_level = PROT_L_CHG_LOW,
		.delay = PROT_TM_TEMP,
		.release_q = PROT_Q_MIN_TEMP, .release_cmp = PROT_CMP_GE, .release_level = PROT_L_CHG_LOW_RELEASE,
		.hold = PROT_TM_30S,
		.flags = PROT_F_CHATTER,
	},
	[PROT_R_CHG_HOT] = {
		.id = PROT_R_CHG_HOT, .code = BMS_A4, .name = "too hot to charge",
		.target = ATC,
		.trip_q = PROT_Q_MAX_TEMP, .trip_cmp = PROT_CMP_GT, .trip_level = PROT_L_CHG_HIGH,
		.delay = PROT_TM_TEMP,
		.release_q = PROT_Q_MAX_TEMP, .release_cmp = PROT_CMP_LE, .release_level = PROT_L_CHG_HIGH_RELEASE,
		.hold = PROT_TM_30S,
		.flags = PROT_F_CHATTER,
	},
	[PROT_R_STALE_ATC] = {
		.id = PROT_R_STALE_ATC, .code = BMS_E1, .name = "battery data stale",
		.target = ATC,
		.trip_q = PROT_Q_STALE, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_5S,
		.flags = PROT_F_CHATTER | PROT_F_CHATTER_NOHOLD | PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_CHANGED_ATC] = {
		.id = PROT_R_CHANGED_ATC, .code = BMS_E3, .name = "bank changed",
		.target = ATC,
		.trip_q = PROT_Q_BANK_CHANGED, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_ZERO,
		.flags = PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_TOPOLOGY] = {
		.id = PROT_R_TOPOLOGY, .code = BMS_E6, .name = "bank topology inconsistent",
		.target = ATC,
		.trip_q = PROT_Q_TOPOLOGY, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_ZERO,
		.flags = PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_FW_RUNNING] = {
		.id = PROT_R_FW_RUNNING, .code = BMS_W7, .name = "firmware update running",
		.target = ATC,
		.trip_q = PROT_Q_FW_RUNNING, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_ZERO,
		.flags = PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_PREALARM] = {
		.id = PROT_R_PREALARM, .code = BMS_W2, .name = "cell under-voltage pre-alarm",
		.target = PRE,
		.trip_q = PROT_Q_MIN_CELL, .trip_cmp = PROT_CMP_LT, .trip_level = PROT_L_PREALARM,
		.delay = PROT_TM_2S,
		.release_q = PROT_Q_MIN_CELL, .release_cmp = PROT_CMP_GE, .release_level = PROT_L_PREALARM_RELEASE,
		.hold = PROT_TM_30S,
		.flags = 0,
	},
	[PROT_R_LOW_SOC_WARN] = {
		.id = PROT_R_LOW_SOC_WARN, .code = BMS_W1, .name = "low SoC warning",
		.target = PRE,
		.trip_q = PROT_Q_SOC, .trip_cmp = PROT_CMP_LE, .trip_level = PROT_L_SOC_WARN,
		.delay = PROT_TM_ZERO,
		.release_q = PROT_Q_SOC, .release_cmp = PROT_CMP_GE, .release_level = PROT_L_SOC_WARN_RELEASE,
		.hold = PROT_TM_ZERO,
		.flags = 0,
	},
	[PROT_R_READBACK] = {
		.id = PROT_R_READBACK, .code = BMS_E7, .name = "output read-back mismatch",
		.target = PRE,
		.trip_q = PROT_Q_READBACK_BAD, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_1S,
		.release_q = PROT_Q_NONE, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_ZERO,
		.flags = PROT_F_RELEASE_TRIP_CLEAR,
	},
	[PROT_R_BANK_RANGE] = {
		.id = PROT_R_BANK_RANGE, .code = BMS_W5, .name = "bank voltage out of range",
		.target = WARN,
		.trip_q = PROT_Q_BANK_RANGE_BAD, .trip_cmp = PROT_CMP_SET, .trip_level = PROT_L_NONE,
		.delay = PROT_TM_5S,
		.release_q = PROT_Q_BANK_RANGE_OK, .release_cmp = PROT_CMP_SET, .release_level = PROT_L_NONE,
		.hold = PROT_TM_ZERO,
		.flags = 0,
	},
};
/* clang-format on */

const struct protection_rule *protection_rules(void)
{
	return rules;
}

const struct protection_rule *protection_rule(enum protection_rule_id id)
{
	if ((unsigned)id >= PROT_RULE_COUNT)
		return NULL;
	return &rules[id];
}

static int32_t max_i32(int32_t a, int32_t b)
{
	return a > b ? a : b; /* mutation: equivalent [cmp-bound] (a == b: either) */
}

bool protection_level_value(enum protection_level l, const struct protection_settings *s,
                            int32_t bank_cells, int32_t *out)
{
	int32_t v;

	switch (l) {
	case PROT_L_CRIT_UV:
		v = s->crit_uv_mv;
		break;
	case PROT_L_UV_TRIP:
		v = s->uv_trip_mv;
		break;
	case PROT_L_UV_RELEASE:
		v = s->uv_release_mv;
		break;
	case PROT_L_PREALARM:
		v = s->prealarm_mv;
		break;
	case PROT_L_PREALARM_RELEASE:
		v = s->prealarm_mv + 100;
		break;
	case PROT_L_OV_TRIP:
		v = s->ov_trip_mv;
		break;
	case PROT_L_OV_RELEASE:
		v = s->ov_release_mv;
		break;
	case PROT_L_BANK_OV_TRIP:
	case PROT_L_BANK_OV_RELEASE:
		/* 16 cells x 4 batteries x 3800 mV is far from overflow; the cap keeps
		 * a bogus input from overflowing. */
		if (bank_cells <= 0 || bank_cells > 1000)
			return false;
		v = bank_cells * (l == PROT_L_BANK_OV_TRIP ? s->ov_trip_mv : s->ov_release_mv);
		break;
	case PROT_L_CHG_LOW:
		v = s->charge_temp_low_dc;
		break;
	case PROT_L_CHG_LOW_RELEASE:
		v = s->charge_temp_low_dc + s->temp_hysteresis_dc;
		break;
	case PROT_L_CHG_HIGH:
		v = s->charge_temp_high_dc;
		break;
	case PROT_L_CHG_HIGH_RELEASE:
		v = s->charge_temp_high_dc - s->temp_hysteresis_dc;
		break;
	case PROT_L_DIS_HIGH:
		v = s->discharge_temp_high_dc;
		break;
	case PROT_L_DIS_HIGH_RELEASE:
		v = s->discharge_temp_high_dc -
		    max_i32(s->temp_hysteresis_dc, PROT_DIS_HIGH_MIN_HYST_DC);
		break;
	case PROT_L_DIS_LOW:
		v = s->discharge_temp_low_dc;
		break;
	case PROT_L_DIS_LOW_RELEASE:
		v = s->discharge_temp_low_dc + s->temp_hysteresis_dc;
		break;
	case PROT_L_SOC_FLOOR:
	case PROT_L_SOC_FLOOR_RELEASE:
		if (s->discharge_floor_pct == 0)
			return false;
		v = (s->discharge_floor_pct + (l == PROT_L_SOC_FLOOR ? 0 : 2)) * 100;
		break;
	case PROT_L_SOC_WARN:
		v = s->low_soc_warning_pct * 100;
		break;
	case PROT_L_SOC_WARN_RELEASE:
		v = (s->low_soc_warning_pct + 2) * 100;
		break;
	case PROT_L_NONE:
	default:
		return false;
	}
	*out = v;
	return true;
}

uint32_t protection_time_ms(enum protection_time t, const struct protection_settings *s)
{
	switch (t) {
	case PROT_TM_CRIT_UV:
		return (uint32_t)s->crit_uv_delay_ms;
	case PROT_TM_UV:
		return (uint32_t)s->uv_delay_ms;
	case PROT_TM_UV_HOLD:
		return (uint32_t)s->uv_release_hold_ms;
	case PROT_TM_OV:
		return (uint32_t)s->ov_delay_ms;
	case PROT_TM_OV_HOLD:
		return (uint32_t)s->ov_release_hold_ms;
	case PROT_TM_TEMP:
		return (uint32_t)s->temp_delay_ms;
	case PROT_TM_1S:
		return 1000;
	case PROT_TM_2S:
		return 2000;
	case PROT_TM_5S:
		return 5000;
	case PROT_TM_30S:
		return 30000;
	case PROT_TM_60S:
		return 60000;
	case PROT_TM_120S:
		return 120000;
	case PROT_TM_ZERO:
	default:
		return 0;
	}
}

const char *protection_quantity_unit(enum protection_quantity q)
{
	switch (q) {
	case PROT_Q_MIN_CELL:
	case PROT_Q_MAX_CELL:
	case PROT_Q_BANK_MV:
	case PROT_Q_READBACK_BAD:
	case PROT_Q_BANK_RANGE_BAD:
		return "mV";
	case PROT_Q_MIN_TEMP:
	case PROT_Q_MAX_TEMP:
		return "0.1 degC";
	case PROT_Q_SOC:
		return "0.01 %";
	default:
		return "";
	}
}
