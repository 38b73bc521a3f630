// A real browser (Debian's headless Chromium, driven by playwright-core; no browser is
// downloaded) signs in to an application through `tessera serve`: it types the password
// into the login page, allows on the consent page, lands on the application with a code,
// and on a second authorization is not asked to sign in again. Optionally writes
// screenshots of both pages (SCREENSHOTS=DIR).
// Usage: node oidc_browser.mjs ISSUER CLIENT_ID APP_PORT
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import * as client from 'openid-client';
import { assert, check, summary } from './oidc_common.mjs';

const [issuer, clientId, appPort] = process.argv.slice(2);
const screenshots = process.env.SCREENSHOTS;
const callbackBase = `http://127.0.0.1:${appPort}/callback`;

// The application: its callback shows what it received, in a page of its own.
const app = createServer((req, res) => {
  const url = new URL(req.url, callbackBase);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>App</title><p id="code">${url.searchParams.get('code') ?? ''}</p>`
    + `<p id="error">${url.searchParams.get('error') ?? ''}</p><p id="state">${url.searchParams.get('state') ?? ''}</p>`);
});
await new Promise((resolve) => app.listen(Number(appPort), '127.0.0.1', resolve));

const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
  execute: [client.allowInsecureRequests],
});

async function authorizationUrl(state) {
  const challenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
  return client.buildAuthorizationUrl(config, {
    redirect_uri: callbackBase,
    scope: 'openid profile email',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce: client.randomNonce(),
  }).href;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1000, height: 720 } });
const page = await context.newPage();
const consoleMessages = [];
page.on('console', (m) => consoleMessages.push(m.text()));

await check('chromium: the login page, the password typed, the consent page allowed, a code', async () => {
  await page.goto(await authorizationUrl('first'));
  assert(await page.locator('input[name="username"][autocomplete="username"]').count() === 1, 'username field');
  assert(await page.locator('input[name="password"][autocomplete="current-password"]').count() === 1, 'password field');
  assert(await page.locator('script').count() === 0, 'no script on the page');
  assert(await page.inputValue('#username') === '', 'the user name starts empty without a login_hint');
  if (screenshots) {
    mkdirSync(screenshots, { recursive: true });
    await page.screenshot({ path: `${screenshots}/oidc-login.png` });
  }
  await page.fill('#username', 'Jane');
  await page.fill('#password', 'wrong password');
  await page.click('button[type="submit"]');
  await page.waitForSelector('.error');
  assert((await page.textContent('.error')).includes('Wrong user name or password'), 'one generic message');
  if (screenshots) await page.screenshot({ path: `${screenshots}/oidc-login-error.png` });
  await page.fill('#password', 'pass123');
  await page.click('button[type="submit"]');
  await page.waitForSelector('button[value="allow"]');
  assert((await page.textContent('body')).includes(clientId), 'the consent page names the client');
  if (screenshots) await page.screenshot({ path: `${screenshots}/oidc-consent.png` });
  await page.click('button[value="allow"]');
  await page.waitForURL((u) => u.href.startsWith(callbackBase));
  const code = await page.textContent('#code');
  assert(code.length > 20, `code "${code}"`);
  assert(await page.textContent('#state') === 'first', 'state');
});

await check('chromium: a second authorization signs in without the login page', async () => {
  const seen = [];
  page.on('framenavigated', (f) => seen.push(f.url()));
  await page.goto(await authorizationUrl('second'));
  await page.waitForURL((u) => u.href.startsWith(callbackBase));
  assert((await page.textContent('#code')).length > 20, 'a code');
  assert(seen.every((u) => !u.includes('/oauth/login')), `went through ${seen.join(' ')}`);
});

await check('chromium: the login page reads well on a phone', async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true });
  const p = await phone.newPage();
  await p.goto(await authorizationUrl('phone'));
  const box = await p.locator('#password').boundingBox();
  assert(box && box.width > 250 && box.x + box.width <= 390, `password field ${JSON.stringify(box)}`);
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert(!overflow, 'no horizontal scrolling');
  if (screenshots) await p.screenshot({ path: `${screenshots}/oidc-login-phone.png` });
  await phone.close();
});

await check('chromium: consent denied goes back with access_denied', async () => {
  const fresh = await browser.newContext();
  const p = await fresh.newPage();
  await p.goto(await authorizationUrl('deny'));
  await p.fill('#username', 'John');
  await p.fill('#password', 'testpass');
  await p.click('button[type="submit"]');
  await p.waitForSelector('button[value="deny"]');
  await p.click('button[value="deny"]');
  await p.waitForURL((u) => u.href.startsWith(callbackBase));
  assert(await p.textContent('#error') === 'access_denied', 'access_denied');
  await fresh.close();
});

// The sample application of docs/oidc.md (examples/oidc-rp/rp.py), when oidc.sh started it:
// the walkthrough, done by a browser.
const example = process.env.EXAMPLE_APP;
if (example) {
  await check('chromium: the sample application signs Ada in and out (docs/oidc.md)', async () => {
    const fresh = await browser.newContext();
    const p = await fresh.newPage();
    await p.goto(example);
    assert((await p.textContent('#status')).includes('not signed in'), 'signed out at first');
    await p.click('text=Sign in with Tessera');
    await p.fill('#username', 'ada');
    await p.fill('#password', 'correct horse battery staple');
    await p.click('button[type="submit"]');
    await p.waitForSelector('button[value="allow"]');
    await p.click('button[value="allow"]');
    await p.waitForSelector('#status');
    const status = await p.textContent('#status');
    assert(status.includes('Signed in as Ada Lovelace'), `status "${status}"`);
    const body = await p.textContent('body');
    assert(body.includes('ada@example.com') && body.includes('preferred_username'), 'claims shown');
    if (screenshots) await p.screenshot({ path: `${screenshots}/oidc-sample-app.png`, fullPage: true });
    await p.click('text=Sign out');
    await p.waitForFunction(() => document.querySelector('#status')?.textContent.includes('not signed in'));
    assert(p.url() === example, `back at the application, not ${p.url()}`);
    // The session at Tessera ended too: signing in again asks for the password.
    await p.click('text=Sign in with Tessera');
    await p.waitForSelector('#password');
    await fresh.close();
  });
}

assert(consoleMessages.every((m) => !/Content Security Policy/i.test(m)), `CSP violations: ${consoleMessages.join(' | ')}`);
await browser.close();
app.close();
summary();
