// The per-agent page shell puts the agent id, operator name and CSRF token into markup: each is escaped, so text
// from the network never becomes markup.
import { describe, expect, it } from 'vitest';
import { agentPage } from '../src/history/agent-page.js';

describe('agentPage', () => {
  it('escapes the agent id, the operator and the CSRF token', () => {
    const html = agentPage({ agentId: '<img src=x onerror=1>', csrfToken: '"><script>', operator: "o'<b>" });
    expect(html).not.toContain('<img');
    expect(html).not.toContain('"><script>');
    expect(html).not.toContain('<b>');
    expect(html).toContain('&#60;img src=x onerror=1&#62;');
    expect(html).toContain('<meta name="cleave-agent" content="&#60;img src=x onerror=1&#62;">');
  });
});
