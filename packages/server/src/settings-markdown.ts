import { SETTINGS } from './config.js';

/** The settings as the Markdown table in README.md (a test keeps the two identical). */
export function settingsMarkdown(): string {
  const rows = Object.values(SETTINGS).map(
    (s) => `| \`${s.env}\` | ${s.default ? `\`${s.default}\`` : 'unset'} | ${s.description} |`,
  );
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
