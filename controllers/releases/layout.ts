// Where a static server's releases live in its volume, and the names deployer uses there.
//
//   /srv/static/<service>/deployment-<name>/        a complete release (renamed into place)
//   /srv/static/<service>/deployment-<name>/.deployer-release   "<name> <uid>": whose files these are
//   /srv/static/<service>/current -> deployment-<name>          switched by rename, never ln -sf
//   /srv/static/<service>/.tmp-deployment-<name>/    a copy in progress (never served)
//   /srv/static/<service>/.build-<name>/             a build's workspace
//   /srv/static/<service>/.current-<tag>             a link about to be renamed over `current`
//
// Names come from validated Deployment names (DNS labels) and services (DNS labels), so they
// hold no slash, dot-dot or shell metacharacter; they are still passed to scripts as argv.
export const STATIC_ROOT = '/srv/static';
export const MARKER_FILE = '.deployer-release';
export const CURRENT = 'current';

export const releaseDir = (deployment: string) => `deployment-${deployment}`;
export const tmpDir = (deployment: string) => `.tmp-deployment-${deployment}`;
export const buildDir = (deployment: string) => `.build-${deployment}`;
export const linkTmp = (tag: string) => `.current-${tag}`;
export const serviceDir = (service: string) => `${STATIC_ROOT}/${service}`;

/** What a release's marker file holds: the Deployment's name and uid. */
export const markerOf = (deployment: { name: string; uid: string }) => `${deployment.name} ${deployment.uid}`;

/** The deployment name a release dir holds, or undefined for anything else. */
export function deploymentOfDir(dir: string): string | undefined {
  return /^deployment-([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(dir)?.[1];
}

/** A service dir as deployer sees it (one exec lists it all). */
export interface ServiceListing {
  /** readlink of `current`; undefined when there is no link. */
  current?: string;
  /** Each entry that deployer names (release dirs, temporaries), with its marker when it has one. */
  entries: { name: string; marker?: string }[];
}

/** The shell side of `listService`: prints `current <target>` and `entry <name> [<marker>]` lines. */
export const LIST_SCRIPT = [
  'cd "$1" 2>/dev/null || exit 0',
  'printf "current %s\\n" "$(readlink current 2>/dev/null)"',
  'for d in deployment-* .tmp-deployment-* .build-* .current-*; do',
  '  [ -e "$d" ] || [ -L "$d" ] || continue',
  '  if [ ! -L "$d" ] && [ -f "$d/.deployer-release" ]; then printf "entry %s %s\\n" "$d" "$(head -c 200 "$d/.deployer-release" | tr "\\n" " ")"; else printf "entry %s\\n" "$d"; fi',
  'done',
].join('\n');

export function parseListing(out: string): ServiceListing {
  const listing: ServiceListing = { entries: [] };
  for (const line of out.split('\n')) {
    if (line.startsWith('current ')) {
      const target = line.slice('current '.length).trim();
      if (target) listing.current = target;
    } else if (line.startsWith('entry ')) {
      const [name, ...rest] = line.slice('entry '.length).trim().split(' ');
      const marker = rest.join(' ').trim();
      listing.entries.push(marker ? { name: name!, marker } : { name: name! });
    }
  }
  listing.entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return listing;
}

/**
 * `cd <dir> && ln -sfn <target> <tmp> && mv -Tf <tmp> current`: rename(2) replaces the link
 * atomically. With a marker ($4), the target's marker must be it (else exit 4: not intact).
 * With an expected link ($5, `-` for none), `current` must still be that (else exit 5): the
 * self-healing never undoes a switch it did not see.
 */
export const SWITCH_SCRIPT = [
  'cd "$1" || exit 2',
  '[ -z "$4" ] || [ "$(head -n 1 "$2/.deployer-release" 2>/dev/null)" = "$4" ] || exit 4',
  'ln -sfn "$2" "$3" || exit 1',
  '[ -z "$5" ] || [ "$(readlink current 2>/dev/null || echo -)" = "$5" ] || { rm -f "$3"; exit 5; }',
  'mv -Tf "$3" current',
].join('\n');
/** The exit code of SWITCH_SCRIPT when the target is not the release it should be. */
export const NOT_INTACT = 4;
/** The exit code of SWITCH_SCRIPT when `current` is no longer what the caller saw (someone else switched it). */
export const MOVED = 5;

/** Removes the named entries of a service dir (names only, no slashes; checked by the caller). */
export const REMOVE_SCRIPT = 'cd "$1" 2>/dev/null || exit 0; shift; rm -rf -- "$@"';

/**
 * Finishes a copy: the temporary dir is renamed to the release dir. A release dir that is
 * there already (left by an earlier object of the same name) is removed first.
 */
export const PROMOTE_SCRIPT = 'cd "$1" && { [ ! -e "$3" ] || rm -rf -- "$3"; } && mv -T -- "$2" "$3"';

/**
 * Copies a build's output into a fresh temporary dir and writes the marker:
 * $1 service dir, $2 build dir, $3 output dir (relative to the build dir), $4 tmp dir, $5 marker.
 */
export const COPY_OUTPUT_SCRIPT = [
  'cd "$1" || exit 2',
  'rm -rf -- "$4"',
  '[ -d "$2/$3" ] || { echo "the build left no directory \\"$3\\" (spec.build.outputDir)" >&2; exit 3; }',
  'mkdir -p -- "$4" && cp -a -- "$2/$3/." "$4/" && printf "%s\\n" "$5" > "$4/.deployer-release"',
].join('\n');
