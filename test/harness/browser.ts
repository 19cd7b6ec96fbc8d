import { access } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium; playwright cannot download browsers on these machines. */
export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Launches headless Chromium with the flags that keep it off the (closed) network. */
export async function launchChromium(): Promise<Browser> {
  try {
    await access(CHROMIUM_PATH);
  } catch {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: install it with 'sudo apt-get install chromium' (npm test's bootstrap does this as root)`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/**
 * Collects the Content-Security-Policy violations a page reports into `sink` (Chromium logs some to the console,
 * and the init script reports every `securitypolicyviolation` event), so a test can assert there were none.
 */
export async function watchCsp(page: Page, sink: string[]): Promise<void> {
  page.on('console', (msg) => {
    if (/Content Security Policy|csp-violation/i.test(msg.text())) sink.push(msg.text());
  });
  await page.addInitScript(
    "document.addEventListener('securitypolicyviolation', (e) => console.warn('csp-violation: ' + e.violatedDirective + ' ' + e.blockedURI))",
  );
}
