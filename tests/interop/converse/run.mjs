// Converse.js (the real web client, npm `converse.js`) in headless Debian Chromium, driven by
// playwright-core, against a running Meerkat. Run by crates/meerkat/tests/e2e/interop_converse.rs.
//
//   node run.mjs --ws ws://127.0.0.1:P/ws-xmpp [--bosh http://127.0.0.1:P/http-bind]
//                --domain localhost --user1 NAME:PASS --user2 NAME:PASS
//                [--room ROOM@conference.localhost] --shots DIR
//
// Serves a local page that loads Converse from node_modules, logs two users in over WebSocket,
// has them chat one to one through the UI (typing in the message box, pressing Enter), and,
// with --room, join a room and talk there; with --bosh, a third page logs user 1 in over BOSH.
// Each step checks the other browser's DOM and prints `ok <step>`; screenshots go to DIR.
// Exit code 0 only when every step passed.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'node_modules', 'converse.js', 'dist');
const STEP_MS = 20000;

function args() {
    const out = {};
    const a = process.argv.slice(2);
    for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, '')] = a[i + 1];
    for (const k of ['ws', 'domain', 'user1', 'user2', 'shots']) {
        if (!out[k]) throw new Error(`missing --${k}`);
    }
    return out;
}

const page_html = `<!doctype html>
<html><head><meta charset="utf-8"><title>Meerkat + Converse.js</title>
<link rel="stylesheet" href="/dist/converse.min.css">
<script type="module" src="/dist/converse.min.js"></script></head>
<body class="converse-fullscreen"><script type="module">
  const q = new URLSearchParams(location.search);
  // Module scripts run in order: Converse (an ES module build) has set window.converse.
  // A plugin only to reach Converse's own API from the test (its UI does the work).
  converse.plugins.add('meerkat-test', { initialize() { window.__converse = this._converse; } });
  const opts = {
    assets_path: '/dist/',
    view_mode: 'fullscreen',
    auto_login: true,
    jid: q.get('jid'),
    password: q.get('password'),
    discover_connection_methods: false,
    allow_non_roster_messaging: true,
    auto_reconnect: false,
    loglevel: 'warn',
    whitelisted_plugins: ['meerkat-test'],
    play_sounds: false,
    show_desktop_notifications: false,
    omemo_default: false,
  };
  if (q.get('ws')) opts.websocket_url = q.get('ws');
  if (q.get('bosh')) opts.bosh_service_url = q.get('bosh');
  converse.initialize(opts);
</script></body></html>`;

function serve() {
    const server = http.createServer((req, res) => {
        const url = new URL(req.url, 'http://x');
        if (url.pathname === '/' || url.pathname === '/index.html') {
            res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
            return res.end(page_html);
        }
        if (url.pathname.startsWith('/dist/')) {
            const file = path.normalize(path.join(dist, url.pathname.slice('/dist/'.length)));
            if (!file.startsWith(dist) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
                res.writeHead(404);
                return res.end();
            }
            const types = { '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
                '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png',
                '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf' };
            res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
            return fs.createReadStream(file).pipe(res);
        }
        res.writeHead(404);
        res.end();
    });
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function login(browser, base, jid, password, transport) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    page.on('pageerror', (e) => console.error(`[${jid}] page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') console.error(`[${jid}] console: ${m.text()}`); });
    const q = new URLSearchParams({ jid, password, ...transport });
    await page.goto(`${base}/?${q}`);
    await page.waitForFunction(() => window.__converse?.api?.connection?.connected?.(), null, { timeout: STEP_MS });
    // Connected through the transport asked for (Strophe's connection service URL).
    const service = await page.evaluate(() => window.__converse.api.connection.get()?.service);
    const want = transport.ws || transport.bosh;
    if (service !== want) throw new Error(`${jid} connected to ${service}, not ${want}`);
    // The client's UI is up: the contacts list rendered.
    await page.locator('converse-roster').first().waitFor({ timeout: STEP_MS });
    return page;
}

async function type_and_send(page, selector, text) {
    const box = page.locator(selector).first();
    await box.waitFor({ timeout: STEP_MS });
    await box.fill(text);
    await box.press('Enter');
}

async function expect_text(page, selector, text) {
    await page.locator(selector, { hasText: text }).first().waitFor({ timeout: STEP_MS });
}

async function main() {
    const a = args();
    fs.mkdirSync(a.shots, { recursive: true });
    const [n1, p1] = a.user1.split(':');
    const [n2, p2] = a.user2.split(':');
    const jid1 = `${n1}@${a.domain}`;
    const jid2 = `${n2}@${a.domain}`;
    const server = await serve();
    const base = `http://127.0.0.1:${server.address().port}`;
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const step = async (name, f, pages) => {
        try {
            await f();
            console.log(`ok ${name}`);
        } catch (e) {
            for (const [i, p] of (pages || []).entries()) {
                await p.screenshot({ path: path.join(a.shots, `failed-${name}-${i + 1}.png`) }).catch(() => {});
            }
            throw new Error(`${name}: ${e.message}`);
        }
    };
    let code = 0;
    try {
        let one, two;
        await step('websocket-login', async () => {
            one = await login(browser, base, jid1, p1, { ws: a.ws });
            two = await login(browser, base, jid2, p2, { ws: a.ws });
        });
        const hello = `hello from converse ${Date.now()}`;
        await step('chat-one-to-one', async () => {
            await one.evaluate((to) => window.__converse.api.chats.open(to, {}, true), jid2);
            await type_and_send(one, '.chat-textarea', hello);
            // The fullscreen view lists the new message under the contact; open its chat, as a
            // user clicking on it would.
            await two.locator('converse-roster', { hasText: n1 }).first().waitFor({ timeout: STEP_MS });
            await two.evaluate((from) => window.__converse.api.chats.open(from, {}, true), jid1);
            await expect_text(two, '.chat-msg__text', hello);
            const reply = `reply ${hello}`;
            await type_and_send(two, '.chat-textarea', reply);
            await expect_text(one, '.chat-msg__text', reply);
        }, [one, two]);
        await one.screenshot({ path: path.join(a.shots, 'chat-user1.png') });
        await two.screenshot({ path: path.join(a.shots, 'chat-user2.png') });
        if (a.room) {
            await step('groupchat', async () => {
                for (const [p, nick] of [[one, n1], [two, n2]]) {
                    await p.evaluate(([room, nick]) => window.__converse.api.rooms.open(room, { nick }, true), [a.room, nick]);
                    await p.locator('converse-muc .chat-textarea, .chatroom .chat-textarea').first().waitFor({ timeout: STEP_MS });
                }
                const text = `room message ${Date.now()}`;
                await type_and_send(one, 'converse-muc .chat-textarea, .chatroom .chat-textarea', text);
                await expect_text(two, '.chat-msg__text', text);
            }, [one, two]);
            await one.screenshot({ path: path.join(a.shots, 'room-user1.png') });
            await two.screenshot({ path: path.join(a.shots, 'room-user2.png') });
        }
        if (a.bosh) {
            await step('bosh-login', async () => {
                const three = await login(browser, base, jid1, p1, { bosh: a.bosh });
                await three.screenshot({ path: path.join(a.shots, 'bosh-user1.png') });
            });
        }
    } catch (e) {
        console.error(`FAILED ${e.message}`);
        code = 1;
    } finally {
        await browser.close().catch(() => {});
        server.close();
    }
    process.exit(code);
}

main().catch((e) => {
    console.error(`FAILED ${e.stack || e}`);
    process.exit(1);
});
