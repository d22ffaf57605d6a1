/**
 * Downloads (once) and unpacks the packages; creates the Debian-exim user and the
 * mount points. Returns the unpacked root. @param {(message: string) => void} [log]
 */
export function ensureExim(log?: (message: string) => void): Promise<string>;
/** Shell for the namespace holder: the unpacked /usr over the real one, read-only. @param {string} root */
export function eximOverlayCommand(root: string): string;
/**
 * @typedef {object} EximSite
 * @property {boolean} [split] Debian's split configuration (conf.d/) instead of exim4.conf.template (default true)
 * @property {string[]} [relayDomains] the site's own dc_relay_domains (default [EXIM_SITE_DOMAIN])
 * @property {string} [siteNextHop] where hubbed_hosts routes the site's domains (default the list server)
 */
/**
 * The gateway's /etc/exim4 as a configured Debian install has it: the packaged
 * files, update-exim4.conf.conf as debconf writes it for an "internet site",
 * the site's own macros (host name, qualify domain) and a hubbed_hosts entry for
 * its own relay domain. @param {string} fs the host's tree root @param {string} root unpacked packages
 * @param {{ name: string, address: string }} host @param {string} siteNextHop @param {EximSite} [site]
 */
export function prepareEximTrees(fs: string, root: string, host: {
    name: string;
    address: string;
}, siteNextHop: string, site?: EximSite): void;
/** Where the downloaded packages and their unpacked tree are kept between runs. */
export const EXIM_CACHE: "/var/tmp/rcptsync-exim-debs";
export const EXIM_PACKAGES: string[];
export const EXIM_USER: "Debian-exim";
/** Private to an Exim gateway (bind-mounted from its lab directory). */
export const EXIM_TREES: string[];
/** A domain the site relays itself (Debian's dc_relay_domains and hubbed_hosts): rcptsync must leave it alone. */
export const EXIM_SITE_DOMAIN: "site.example.test";
/** The command that generates Debian's configuration and starts the daemon (inside the gateway). */
export const START_EXIM: "update-exim4.conf && exim4 -bd -q30m";
/** The daemon's pid file (Debian's build). */
export const EXIM_PID_FILE: "/run/exim4/exim.pid";
export type EximSite = {
    /**
     * Debian's split configuration (conf.d/) instead of exim4.conf.template (default true)
     */
    split?: boolean | undefined;
    /**
     * the site's own dc_relay_domains (default [EXIM_SITE_DOMAIN])
     */
    relayDomains?: string[] | undefined;
    /**
     * where hubbed_hosts routes the site's domains (default the list server)
     */
    siteNextHop?: string | undefined;
};
