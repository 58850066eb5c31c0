// What a Slack-compatible incoming webhook receives: `text` that reads well on its own (it
// is all that Mattermost, Rocket.Chat or a phone's notification shows) and `blocks` that lay
// the same out in Slack, with a link to the deploy's dashboard page.
import type { Notification } from './notification.js';

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

type SlackBlock =
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'context'; elements: Array<{ type: 'mrkdwn'; text: string }> };

/** A sign before the words, never instead of them: the line reads the same without it. */
const MARKS: Record<Notification['kind'], string> = {
  'deploy.started': '▶',
  'rollback.started': '↩',
  'promotion.started': '⇪',
  'deploy.succeeded': '✔',
  'deploy.failed': '✖',
  'deploy.cancelled': '■',
  'deploy.partial': '◐',
  'release.broken': '⚠',
  'promotion.failed': '✖',
  'group.frozen': '❄',
  'group.unfrozen': '▶',
  'flag.changed': '⚑',
  'flag.killed': '⛔',
  'routes.changed': '⇄',
  'cluster.retired': '⏏',
};

export function slackMessage(notification: Notification): SlackMessage {
  const { kind, text, url, role, env, tag, deploy } = notification;
  const line = `${MARKS[kind]} ${escaped(text)}`;
  const linkLabel = deploy === undefined ? 'Open the dashboard' : `Open deploy ${deploy.id}`;
  const facts = [...(role === undefined ? [] : [`role *${escaped(role)}*`]), ...(env === undefined ? [] : [`env *${escaped(env)}*`]), ...(tag === undefined ? [] : [`tag *${escaped(tag)}*`])];
  if (deploy?.startedBy !== undefined) facts.push(`started by ${escaped(deploy.startedBy)}`);
  return {
    // A bare URL: every Slack-compatible receiver turns it into a link, none needs Slack's <url|label>.
    text: `${line} ${escaped(url)}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${line}\n<${escaped(url)}|${escaped(linkLabel)}>` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: facts.join(' · ') }] },
    ],
  };
}

/** Slack reads &, < and > as markup; a host's error text may hold any of them. */
function escaped(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
