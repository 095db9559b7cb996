/* SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The smallbms page for Cockpit: everything comes from smallbmsd's D-Bus API
 * (docs/dbus-api.md) through cockpit.dbus() on the system bus, as the
 * logged-in user, so polkit decides what this user may change; the recent
 * events come from the journal (journalctl, the entries that carry a
 * MESSAGE_ID of smallbms.catalog). No framework, nothing fetched from the
 * network.
 */
"use strict";

(function () {
    const NAME = "org.smallbms";
    const ROOT = "/org/smallbms";
    const CELL_NA = 65535;
    const TEMP_NA = 32767;
    const EVENTS_SHOWN = 25;

    let client = null;
    let bms = null;
    let settingsProxy = null;
    let history = null;
    let bluetooth = null;
    let batteries = null;
    let settingsList = []; /* [name, unit, value, default, min, max, summary] */
    const dirty = new Set(); /* settings edited and not applied */
    let prompt = null; /* the PairingRequest waiting for an answer */

    /* ---- small helpers ------------------------------------------------ */

    function $(id) {
        return document.getElementById(id);
    }

    function el(tag, attrs, text) {
        const e = document.createElement(tag);
        for (const k in attrs || {})
            e.setAttribute(k, attrs[k]);
        if (text !== undefined)
            e.textContent = text;
        return e;
    }

    function clear(node) {
        while (node.firstChild)
            node.removeChild(node.firstChild);
    }

    function fixed(v, scale, digits) {
        return (Number(v) / scale).toFixed(digits);
    }

    function volts(mv) {
        return fixed(mv, 1000, 2) + " V";
    }

    function cellVolts(mv) {
        return mv === CELL_NA ? "n/a" : fixed(mv, 1000, 3) + " V";
    }

    function celsius(dc) {
        return dc === TEMP_NA ? "n/a" : fixed(dc, 10, 1) + " °C";
    }

    function duration(s) {
        s = Number(s);
        const h = Math.floor(s / 3600);
        const m = Math.floor((s % 3600) / 60);
        if (h >= 48)
            return Math.floor(h / 24) + " d " + (h % 24) + " h";
        return h + " h " + String(m).padStart(2, "0") + " min";
    }

    function wallTime(us) {
        us = Number(us);
        return us ? new Date(us / 1000).toLocaleString() : "never";
    }

    /* The daemon's refusal as the user should read it: its own message
     * (bounds, polkit's "not authorized for ...") and the error's name. */
    function errorText(ex) {
        if (!ex)
            return "failed";
        const name = ex.name && ex.name !== "Error" ? " (" + ex.name + ")" : "";
        if (ex.problem === "access-denied" || ex.problem === "not-authorized")
            return "Not authorized: " + (ex.message || ex.problem) + name;
        return (ex.message || ex.problem || String(ex)) + name;
    }

    function say(id, text, ok) {
        const node = $(id);
        node.textContent = text;
        node.className = "message " + (ok ? "ok" : "error");
    }

    function call(path, iface, method, args, type) {
        const opts = type ? { type: type } : {};
        return client.call(path, iface, method, args, opts);
    }

    /* ---- status ------------------------------------------------------- */

    function renderOutput(prefix, value, names) {
        const box = $(prefix);
        const state = $(prefix + "-state");
        const list = $(prefix + "-reasons");
        clear(list);
        if (!value) {
            state.textContent = "–";
            return;
        }
        const on = value[0];
        state.textContent = on ? names[0] : names[1];
        box.className = "output " + (on === (prefix === "prealarm") ? "bad" : "good");
        for (const r of value[3]) {
            /* (s code, s rule, x since_wall_us, i value, s unit, n battery, n index, b latched) */
            let text = (r[0] ? r[0] + " " : "") + r[1];
            if (r[4])
                text += ": " + r[3] + " " + r[4];
            if (r[5] >= 0)
                text += ", battery " + r[5] + (r[6] >= 0 ? " #" + r[6] : "");
            if (r[7])
                text += " (latched)";
            text += ", since " + wallTime(r[2]);
            list.appendChild(el("li", {}, text));
        }
    }

    function renderStatus() {
        const d = bms && bms.valid ? bms.data : null;
        $("daemon-state").hidden = !!d;
        if (!d) {
            $("daemon-state").textContent = "smallbmsd is not running (org.smallbms is not on the system bus).";
            return;
        }
        $("soc").textContent = d.SocKnown ? fixed(d.SocCpct, 100, 1) + " %" : "not known";
        const m = d.MeasurementsValid;
        $("voltage").textContent = m ? volts(d.VoltageMv) : "n/a";
        $("current").textContent = m ? fixed(d.CurrentMa, 1000, 2) + " A" : "n/a";
        $("power").textContent = m ? fixed(d.PowerMw, 1000, 0) + " W" : "n/a";
        $("consumed").textContent = fixed(d.ConsumedMah, 1000, 1) + " Ah";
        $("time-remaining").textContent = d.TimeRemainingKnown ? duration(d.TimeRemainingS) : "–";
        $("cell-range").textContent = cellVolts(d.MinCellMv) + " … " + cellVolts(d.MaxCellMv);
        $("temp-range").textContent = celsius(d.MinTemperatureDc) + " … " + celsius(d.MaxTemperatureDc);
        $("balancer").textContent = d.Balancer;
        $("topology").textContent = d.TopologyValid
            ? d.Series + "S" + d.Parallel + "P, " + d.CapacityAh + " Ah"
            : "not valid: " + d.TopologyError;
        renderOutput("load", d.LoadDisconnect, ["closed (loads on)", "OPEN (loads off)"]);
        renderOutput("charge", d.ChargeDisconnect, ["closed (charging allowed)", "OPEN (charging off)"]);
        renderOutput("prealarm", d.PreAlarm, ["SOUNDING", "quiet"]);
        const codes = $("codes");
        clear(codes);
        if (!d.Codes || d.Codes.length === 0)
            codes.appendChild(el("li", { class: "none" }, "none"));
        for (const c of d.Codes || []) {
            const li = el("li", { "data-code": c[1] });
            li.appendChild(el("strong", {}, c[1]));
            li.appendChild(document.createTextNode(" " + c[2]));
            codes.appendChild(li);
        }
    }

    /* ---- batteries: a table and a chart of every cell ---------------- */

    const SVG = "http://www.w3.org/2000/svg";

    function svg(tag, attrs, text) {
        const e = document.createElementNS(SVG, tag);
        for (const k in attrs)
            e.setAttribute(k, attrs[k]);
        if (text !== undefined)
            e.textContent = text;
        return e;
    }

    /* Bars from lo to hi: each value a bar, n/a drawn as a grey stub. */
    function barChart(values, na, lo, hi, label, cls) {
        const w = 16 * values.length + 40;
        const h = 90;
        const g = svg("svg", { viewBox: "0 0 " + w + " " + h, class: "chart " + cls, role: "img",
                               "aria-label": label });
        values.forEach(function (v, i) {
            const x = 30 + i * 16;
            if (v === na) {
                g.appendChild(svg("rect", { x: x, y: h - 22, width: 12, height: 4, class: "na" }));
                return;
            }
            const f = Math.max(0, Math.min(1, (v - lo) / (hi - lo)));
            const bh = Math.max(2, f * (h - 30));
            const bar = svg("rect", { x: x, y: h - 18 - bh, width: 12, height: bh, class: "bar" });
            bar.appendChild(svg("title", {}, label + " " + (i + 1) + ": " + v));
            g.appendChild(bar);
            g.appendChild(svg("text", { x: x + 6, y: h - 4, "text-anchor": "middle" }, String(i + 1)));
        });
        g.appendChild(svg("text", { x: 0, y: 10 }, String(hi)));
        g.appendChild(svg("text", { x: 0, y: h - 20 }, String(lo)));
        return g;
    }

    function renderBatteries() {
        const box = $("batteries");
        clear(box);
        const paths = batteries ? Object.keys(batteries).filter(p => batteries[p] && batteries[p].valid) : [];
        paths.sort((a, b) => batteries[a].data.Address - batteries[b].data.Address);
        if (paths.length === 0) {
            box.appendChild(el("p", { class: "none" }, "No battery on the bus."));
            return;
        }
        for (const p of paths) {
            const b = batteries[p].data;
            const card = el("div", { class: "battery" + (b.Fresh ? "" : " stale"), "data-address": String(b.Address) });
            card.appendChild(el("h3", {}, "Battery " + b.Address + (b.Serial ? " (" + b.Serial + ")" : "")));
            const facts = el("p", { class: "facts" });
            facts.textContent = (b.HasStatus ? volts(b.VoltageMv) + ", " + fixed(b.CurrentMa, 1000, 2) + " A" : "no reading yet") +
                ", firmware " + b.FirmwareVersion +
                (b.Flags && b.Flags.length ? ", flags: " + b.Flags.join(" ") : "") +
                (b.Fresh ? "" : ", reading is stale") + (b.Lost ? ", LOST" : "");
            card.appendChild(facts);
            const cells = (b.CellVoltagesMv || []).map(Number);
            const temps = (b.TemperaturesDc || []).map(Number);
            const known = cells.filter(v => v !== CELL_NA);
            const lo = known.length ? Math.min(2500, Math.min.apply(null, known)) : 2500;
            const hi = known.length ? Math.max(3650, Math.max.apply(null, known)) : 3650;
            card.appendChild(el("p", { class: "caption" }, "Cell voltages (mV): " +
                cells.map(v => v === CELL_NA ? "n/a" : String(v)).join(" ")));
            card.appendChild(barChart(cells, CELL_NA, lo, hi, "cell", "cells"));
            card.appendChild(el("p", { class: "caption" }, "Temperatures (°C): " +
                temps.map(v => celsius(v).replace(" °C", "")).join(" ")));
            card.appendChild(barChart(temps, TEMP_NA, -200, 600, "sensor", "temps"));
            box.appendChild(card);
        }
    }

    /* ---- history ------------------------------------------------------- */

    function renderHistory() {
        const body = $("history").tBodies[0];
        clear(body);
        if (!history || !history.valid)
            return;
        const d = history.data;
        const rows = [
            ["Deepest discharge", fixed(d.DeepestDischargeMah, 1000, 1) + " Ah"],
            ["Total drawn", fixed(d.TotalDrawnMah, 1000, 1) + " Ah"],
            ["Discharged energy", fixed(d.DischargedWh, 1000, 2) + " kWh"],
            ["Charged energy", fixed(d.ChargedWh, 1000, 2) + " kWh"],
            ["Synchronisations", String(d.Synchronisations)],
            ["Charge cycles", String(d.ChargeCycles)],
            ["Last full charge", wallTime(d.LastFullChargeWallUs)],
            ["Bank voltage seen", d.MinBankMv ? volts(d.MinBankMv) + " … " + volts(d.MaxBankMv) : "none"],
            ["Cell voltage seen", d.MinCellMv ? cellVolts(d.MinCellMv) + " … " + cellVolts(d.MaxCellMv) : "none"],
            ["Temperature seen", celsius(d.MinTemperatureDc) + " … " + celsius(d.MaxTemperatureDc)],
            ["Last errors", (d.LastErrors || []).map(e => e[1] + " " + wallTime(e[2])).join(", ") || "none"],
        ];
        for (const r of rows) {
            const tr = el("tr");
            tr.appendChild(el("th", { scope: "row" }, r[0]));
            tr.appendChild(el("td", {}, r[1]));
            body.appendChild(tr);
        }
    }

    /* ---- settings: a form with the bounds and units of the API -------- */

    function renderSettings() {
        const box = $("settings-fields");
        clear(box);
        for (const s of settingsList) {
            const [name, unit, value, def, min, max, summary] = s;
            const row = el("div", { class: "setting" });
            const id = "setting-" + name;
            row.appendChild(el("label", { for: id }, name));
            const input = el("input", { id: id, name: name, type: "number", step: "1",
                                        min: String(min), max: String(max), inputmode: "numeric" });
            input.value = String(value);
            input.addEventListener("input", function () {
                dirty.add(name);
                row.classList.add("dirty");
            });
            row.appendChild(input);
            row.appendChild(el("span", { class: "unit" }, unit));
            row.appendChild(el("span", { class: "bounds" }, min + " … " + max + " " + unit + ", default " + def));
            row.appendChild(el("span", { class: "summary" }, summary));
            box.appendChild(row);
        }
    }

    function loadSettings(keepEdits) {
        return call(ROOT + "/settings", NAME + ".Settings1", "List", [])
            .then(function (reply) {
                settingsList = reply[0];
                if (!keepEdits) {
                    dirty.clear();
                    renderSettings();
                    return;
                }
                /* Values changed elsewhere: update the fields not being edited. */
                for (const s of settingsList) {
                    const input = $("setting-" + s[0]);
                    if (!input) {
                        renderSettings();
                        return;
                    }
                    if (!dirty.has(s[0]))
                        input.value = String(s[2]);
                }
            })
            .catch(ex => say("settings-message", "Cannot read the settings: " + errorText(ex), false));
    }

    function applySettings(ev) {
        ev.preventDefault();
        const changes = {};
        for (const name of dirty) {
            const text = $("setting-" + name).value.trim();
            if (!/^-?[0-9]+$/.test(text)) {
                say("settings-message", name + ": \"" + text + "\" is not a whole number; nothing changed", false);
                return;
            }
            changes[name] = parseInt(text, 10);
        }
        if (Object.keys(changes).length === 0) {
            say("settings-message", "Nothing to apply.", true);
            return;
        }
        $("settings-apply").disabled = true;
        call(ROOT + "/settings", NAME + ".Settings1", "SetMany", [changes], "a{si}")
            .then(function () {
                say("settings-message", "Applied and saved: " + Object.keys(changes).map(k => k + " = " + changes[k]).join(", "), true);
                return loadSettings(false);
            })
            .catch(ex => say("settings-message", "Refused, nothing changed: " + errorText(ex), false))
            .finally(() => { $("settings-apply").disabled = false; });
    }

    /* ---- actions, each confirmed first -------------------------------- */

    function action(what, path, iface, method, args, type) {
        if (!window.confirm(what + "?"))
            return;
        call(path, iface, method, args, type)
            .then(() => say("actions-message", what + ": done.", true))
            .catch(ex => say("actions-message", what + " refused: " + errorText(ex), false));
    }

    function setupActions() {
        const B = NAME + ".Bms1";
        const S = NAME + ".Settings1";
        $("act-synchronise").addEventListener("click", () =>
            action("Synchronise the state of charge to 100 %", ROOT, B, "Synchronise", []));
        $("act-setsoc").addEventListener("click", function () {
            const text = $("soc-input").value.trim();
            const v = Number(text);
            if (text === "" || !Number.isFinite(v)) {
                say("actions-message", "Set SoC: enter a number from 0 to 100", false);
                return;
            }
            action("Set the state of charge to " + v + " %", ROOT, B, "SetSoc", [v], "d");
        });
        $("act-acceptbank").addEventListener("click", () =>
            action("Accept the changed bank (the state of charge becomes unknown)", ROOT, B, "AcceptBank", []));
        $("act-reset-monitor").addEventListener("click", () =>
            action("Reset the battery-monitor settings to their defaults", ROOT + "/settings", S, "ResetToDefaults", []));
        $("act-reset-all").addEventListener("click", () =>
            action("Reset EVERY setting to its default", ROOT + "/settings", S, "ResetAll", []));
        $("act-reset-history").addEventListener("click", () =>
            action("Reset the history counters", ROOT + "/history", NAME + ".History1", "Reset", []));
    }

    /* ---- Bluetooth pairing window -------------------------------------- */

    function renderBluetooth() {
        if (!bluetooth || !bluetooth.valid) {
            $("bt-state").textContent = "–";
            return;
        }
        const d = bluetooth.data;
        $("bt-state").textContent = d.State + (d.AdapterPresent ? " (" + d.Address + ")" : " (no adapter)");
        $("bt-pairing").textContent = d.PairingOpen ? "open" : "closed";
        const list = $("bt-bonded");
        clear(list);
        if (!d.BondedDevices || d.BondedDevices.length === 0)
            list.appendChild(el("li", { class: "none" }, "none"));
        for (const dev of d.BondedDevices || [])
            list.appendChild(el("li", {}, dev[1] + " (" + dev[0] + ")"));
    }

    function showPrompt(args) {
        const [id, kind, address, name, passkey, seconds] = args;
        const code = String(passkey).padStart(6, "0");
        prompt = { id: id, kind: kind };
        $("bt-prompt").hidden = false;
        $("bt-prompt-text").textContent = kind === "confirm"
            ? "\"" + name + "\" (" + address + ") wants to pair. Does the phone show " + code + "? (" + seconds + " s left)"
            : "Type " + code + " on \"" + name + "\" (" + address + ").";
        $("bt-accept").hidden = kind !== "confirm";
    }

    function answerPrompt(accept) {
        if (!prompt)
            return;
        const p = prompt;
        prompt = null;
        $("bt-prompt").hidden = true;
        call(ROOT + "/bluetooth", NAME + ".Bluetooth1", "ConfirmPairing", [p.id, accept], "tb")
            .then(() => say("bt-message", accept ? "Confirmed." : "Rejected.", true))
            .catch(ex => say("bt-message", "Answer refused: " + errorText(ex), false));
    }

    function setupBluetooth() {
        const BT = NAME + ".Bluetooth1";
        $("bt-open").addEventListener("click", function () {
            const t = parseInt($("bt-timeout").value, 10);
            call(ROOT + "/bluetooth", BT, "OpenPairing", [Number.isFinite(t) ? t : 0], "u")
                .then(() => say("bt-message", "Pairing window open: pair the phone now and keep this page open to confirm.", true))
                .catch(ex => say("bt-message", "Refused: " + errorText(ex), false));
        });
        $("bt-close").addEventListener("click", () =>
            call(ROOT + "/bluetooth", BT, "ClosePairing", [])
                .then(() => say("bt-message", "Pairing window closed.", true))
                .catch(ex => say("bt-message", "Refused: " + errorText(ex), false)));
        $("bt-accept").addEventListener("click", () => answerPrompt(true));
        $("bt-reject").addEventListener("click", () => answerPrompt(false));
        client.subscribe({ path: ROOT + "/bluetooth", interface: BT, member: "PairingRequest" },
                         (path, iface, signal, args) => showPrompt(args));
        client.subscribe({ path: ROOT + "/bluetooth", interface: BT, member: "PairingRequestEnded" },
                         function (path, iface, signal, args) {
                             if (prompt && prompt.id === args[0]) {
                                 prompt = null;
                                 $("bt-prompt").hidden = true;
                             }
                             say("bt-message", "Pairing request " + args[1] + ".", args[1] === "confirmed");
                         });
        client.subscribe({ path: ROOT + "/bluetooth", interface: BT, member: "PairingEnded" },
                         (path, iface, signal, args) => say("bt-message", "Pairing window closed: " + args[0] +
                                                            (args[2] ? " (" + args[2] + ")" : ""), args[0] === "bonded"));
    }

    /* ---- recent events from the journal -------------------------------- */

    function loadEvents() {
        const list = $("events");
        cockpit.spawn(["journalctl", "--no-pager", "--output=json", "--lines=400",
            "SYSLOG_IDENTIFIER=smallbmsd"], { err: "message", superuser: "try" })
            .then(function (out) {
                const entries = [];
                for (const line of out.split("\n")) {
                    if (!line)
                        continue;
                    let e;
                    try {
                        e = JSON.parse(line);
                    } catch (ex) {
                        continue;
                    }
                    if (e.MESSAGE_ID && typeof e.MESSAGE === "string")
                        entries.push(e);
                }
                clear(list);
                if (entries.length === 0)
                    list.appendChild(el("li", { class: "none" }, "No events in the journal."));
                for (const e of entries.slice(-EVENTS_SHOWN).reverse()) {
                    const li = el("li", { "data-message-id": e.MESSAGE_ID });
                    li.appendChild(el("time", {}, wallTime(e.__REALTIME_TIMESTAMP)));
                    li.appendChild(document.createTextNode(" " + e.MESSAGE));
                    list.appendChild(li);
                }
            })
            .catch(function (ex) {
                clear(list);
                list.appendChild(el("li", { class: "none" }, "Cannot read the journal: " + errorText(ex)));
            });
    }

    /* ---- wiring ---------------------------------------------------------- */

    function watch(proxy, render) {
        proxy.addEventListener("changed", render);
        proxy.wait(render);
    }

    function init() {
        client = cockpit.dbus(NAME, { bus: "system" });
        bms = client.proxy(NAME + ".Bms1", ROOT);
        settingsProxy = client.proxy(NAME + ".Settings1", ROOT + "/settings");
        history = client.proxy(NAME + ".History1", ROOT + "/history");
        bluetooth = client.proxy(NAME + ".Bluetooth1", ROOT + "/bluetooth");
        batteries = client.proxies(NAME + ".Battery1", ROOT);
        watch(bms, function () {
            renderStatus();
        });
        watch(history, renderHistory);
        watch(bluetooth, renderBluetooth);
        for (const ev of ["added", "changed", "removed"])
            batteries.addEventListener(ev, renderBatteries);
        batteries.wait(renderBatteries);
        settingsProxy.addEventListener("changed", () => loadSettings(true));
        /* The daemon (re)appearing: read the settings again. */
        bms.addEventListener("changed", function () {
            if (bms.valid && settingsList.length === 0)
                loadSettings(false);
        });
        loadSettings(false);
        $("settings-form").addEventListener("submit", applySettings);
        $("settings-revert").addEventListener("click", function () {
            $("settings-message").textContent = "";
            loadSettings(false);
        });
        setupActions();
        setupBluetooth();
        loadEvents();
        window.setInterval(loadEvents, 10000);
        document.body.setAttribute("data-ready", "1");
    }

    document.addEventListener("DOMContentLoaded", init);
}());
