// Serves the dashboard's script and stylesheet from /ui/assets. Their URLs carry a digest of
// their content, so a browser may keep them a day and still gets the new ones after an upgrade.
import { createHash } from 'node:crypto';
import type { Hono } from 'hono';
import type { CoordinatorEnv } from '../../auth/authenticate.js';
import { DASHBOARD_SCRIPT } from './dashboard-script.js';
import { DASHBOARD_STYLE } from './dashboard-style.js';

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

export const SCRIPT_PATH = `/ui/assets/dashboard.js?v=${digest(DASHBOARD_SCRIPT)}`;
export const STYLESHEET_PATH = `/ui/assets/dashboard.css?v=${digest(DASHBOARD_STYLE)}`;

const ASSETS: Record<string, { body: string; type: string }> = {
  'dashboard.js': { body: DASHBOARD_SCRIPT, type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { body: DASHBOARD_STYLE, type: 'text/css; charset=utf-8' },
};

/** On the dashboard's app, mounted at /ui. No sign-in needed: they hold nothing but the pages' code and look. */
export function registerAssetRoutes(ui: Hono<CoordinatorEnv>): void {
  ui.get('/assets/:name', (c) => {
    const asset = ASSETS[c.req.param('name')];
    if (!asset) return c.text('no such asset', 404);
    c.header('Content-Type', asset.type);
    c.header('Cache-Control', 'public, max-age=86400');
    return c.body(asset.body);
  });
}
