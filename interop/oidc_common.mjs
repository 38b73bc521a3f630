// A minimal browser for the OpenID Connect checks: it follows the sign-in pages of
// `tessera serve` with fetch, keeps the one cookie, and reads the forms' hidden fields.
// The relying parties (openid-client here, authlib in Python) validate everything
// themselves; this only plays the user.

export class Browser {
  constructor() {
    this.cookies = new Map();
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  remember(response) {
    for (const set of response.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at);
      const value = pair.slice(at + 1);
      if (!value || /max-age=0/i.test(set)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async get(url) {
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: this.header() } });
    this.remember(response);
    return response;
  }

  async post(url, fields) {
    const response = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: this.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
    this.remember(response);
    return response;
  }
}

const entities = { '&amp;': '&', '&#x2f;': '/', '&#x2b;': '+', '&#x3d;': '=', '&quot;': '"', '&#x27;': "'", '&lt;': '<', '&gt;': '>' };

/** The value of the input named `name` in a page. */
export function field(html, name) {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!m) throw new Error(`no field ${name} in the page`);
  return unescape(m[1]);
}

function unescape(text) {
  return text.replace(/&[#a-z0-9]+;/gi, (e) => entities[e.toLowerCase()] ?? e);
}

/** The `action` of the page's form, as an absolute URL. */
function action(html, base) {
  const m = html.match(/<form[^>]*action="([^"]+)"/);
  if (!m) throw new Error('no form in the page');
  return new URL(unescape(m[1]), base);
}

/**
 * Signs in on the login page and allows on the consent page, from an authorization URL;
 * returns the URL the browser is finally sent to (the application's callback).
 */
export async function signIn(browser, authorizationUrl, user, password) {
  let response = await browser.get(authorizationUrl);
  for (let step = 0; step < 4; step += 1) {
    if (response.status === 303 || response.status === 302) {
      return new URL(response.headers.get('location'));
    }
    const html = await response.text();
    if (response.status !== 200 && response.status !== 401) {
      throw new Error(`unexpected ${response.status}: ${html.slice(0, 200)}`);
    }
    const base = new URL(authorizationUrl);
    if (html.includes('name="password"')) {
      response = await browser.post(action(html, base), {
        username: user,
        password,
        csrf_token: field(html, 'csrf_token'),
        request: field(html, 'request'),
      });
    } else if (html.includes('value="allow"')) {
      response = await browser.post(action(html, base), {
        decision: 'allow',
        csrf_token: field(html, 'csrf_token'),
        request: field(html, 'request'),
      });
    } else {
      throw new Error(`neither a login nor a consent page: ${html.slice(0, 200)}`);
    }
  }
  throw new Error('too many pages');
}

let passed = 0;
let failed = 0;

export async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`    ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`    FAIL ${name}: ${e.stack ?? e}`);
  }
}

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

export function summary() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}
