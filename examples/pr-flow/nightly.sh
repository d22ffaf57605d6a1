#!/usr/bin/env bash
# The nightly pull-request flow for rcptsync (see README.md beside this file).
#
#   nightly.sh            collect once (a failed list server is carried forward
#                         from the last-known-good state, as sync does), plan, and
#                         then either
#                           - within the safety thresholds: render, commit rendered/
#                             to the base branch, deploy with playbooks/deploy.yml;
#                           - removals over a threshold (exit 3): rcptsync held
#                             them and rendered everything else, so commit and
#                             deploy that (the additions go live), then render the
#                             same collection with --force on a review branch,
#                             commit rendered/ and the snapshot, and open (or
#                             update) a pull request whose body is the Markdown
#                             plan: merging it applies the held removals;
#                         and when a source failed and was carried forward (exit 5,
#                         6 for a host key problem), the same, loudly: the healthy
#                         sources' changes are committed and deployed, the failed
#                         source keeps its last good addresses, the log, the commit
#                         message (and a GitHub Actions annotation) name it, and the
#                         script ends with that exit code.
#   nightly.sh apply-reviewed
#                         after that pull request is merged: render the reviewed
#                         snapshot into a scratch tree, check that it is
#                         byte-identical to the merged rendered/, and only then
#                         render it for real (recording it as the new
#                         last-known-good state) and deploy it.
#
# Run from the root of the inventory repository (its own repository, not a fork
# of rcptsync): inventory/, rendered/ and review/ are tracked there. The control
# node has the CLI on PATH (the npm package) and the collection rcptsync.rcptsync
# installed (docs/production.md); this script ships with both, e.g.
#   "$(npm root -g)/rcptsync/examples/pr-flow/nightly.sh"
# Settings (environment):
#   RCPTSYNC         command that runs rcptsync      (default: rcptsync, on PATH)
#   INVENTORY        Ansible inventory               (default: inventory)
#   OUT              rendered tree, tracked in git   (default: rendered)
#   STATE_DIR        last-known-good state; keep it OUTSIDE the checkout, because
#                    CI checkouts are cleaned        (default: rcptsync's, beside OUT)
#   METRICS_FILE     Prometheus textfile             (default: none)
#   FORGE            github (gh CLI) or gitlab (glab CLI)          (default: github)
#   BASE_BRANCH      branch that holds the deployed tree            (default: main)
#   REVIEW_BRANCH    branch of the review pull request   (default: rcptsync/review)
#   COMMIT_RENDERED  1: commit rendered/ to BASE_BRANCH after a direct apply (default: 1)
#   DEPLOY_PLAYBOOK  playbook that pushes rendered/  (default: rcptsync.rcptsync.deploy, from the collection)
#   SNAPSHOT_COPY    also write the night's snapshot here (the workflow uploads it for
#                    the pull-request plan job, which must not collect)  (default: none)
#   DRY_RUN          1: print git push, gh/glab and ansible-playbook instead of running them
#
# Exit status: 0 when applied or when a review pull request was opened/updated;
# 5 (6: a HOST KEY problem) when that was done with failed sources carried
# forward: deployed, but a source needs fixing before rcptsync_max_stale runs out;
# any other non-zero on a failure, with nothing deployed (rcptsync's own code
# where it failed: 1 runtime, e.g. a failed source with nothing to carry forward
# or past rcptsync_max_stale; 2 usage).
set -euo pipefail

RCPTSYNC=${RCPTSYNC:-rcptsync}
INVENTORY=${INVENTORY:-inventory}
OUT=${OUT:-rendered}
STATE_DIR=${STATE_DIR:-}
METRICS_FILE=${METRICS_FILE:-}
FORGE=${FORGE:-github}
BASE_BRANCH=${BASE_BRANCH:-main}
REVIEW_BRANCH=${REVIEW_BRANCH:-rcptsync/review}
COMMIT_RENDERED=${COMMIT_RENDERED:-1}
DEPLOY_PLAYBOOK=${DEPLOY_PLAYBOOK:-rcptsync.rcptsync.deploy}
DRY_RUN=${DRY_RUN:-0}
SNAPSHOT_COPY=${SNAPSHOT_COPY:-}
# The reviewed snapshot and plan travel with the pull request.
REVIEW_DIR=review

log() { printf 'nightly: %s\n' "$*" >&2; }
die() { log "$1"; exit "${2:-1}"; }

# Side effects outside this machine (push, forge, gateways) go through here.
outside() {
  if [ "$DRY_RUN" = 1 ]; then printf 'DRY_RUN:' >&2; printf ' %q' "$@" >&2; printf '\n' >&2; else "$@"; fi
}

# rcptsync with the options every command shares. Word splitting of RCPTSYNC is intended.
rcptsync() {
  # shellcheck disable=SC2086
  $RCPTSYNC "$@"
}
state_args=()
[ -n "$STATE_DIR" ] && state_args=(--state-dir "$STATE_DIR")
metrics_args=()
[ -n "$METRICS_FILE" ] && metrics_args=(--metrics-file "$METRICS_FILE")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

commit_paths() { # message, paths...
  local message=$1
  shift
  git add -A -- "$@"
  if git diff --cached --quiet -- "$@"; then
    log "nothing to commit"
    return 1
  fi
  git -c user.name="${GIT_AUTHOR_NAME:-rcptsync}" -c user.email="${GIT_AUTHOR_EMAIL:-rcptsync@localhost}" commit -q -m "$message" -- "$@"
}

deploy() {
  log "deploying $OUT with $DEPLOY_PLAYBOOK"
  outside ansible-playbook -i "$INVENTORY" "$DEPLOY_PLAYBOOK"
}

open_review() { # plan.md
  local body=$1 title
  title="rcptsync: review a shrink of the recipient tables ($(date -u +%Y-%m-%d))"
  case "$FORGE" in
    github)
      # One review pull request at a time: update it when it is already open.
      if [ "$DRY_RUN" != 1 ] && gh pr view "$REVIEW_BRANCH" --json state --jq .state 2>/dev/null | grep -qx OPEN; then
        outside gh pr edit "$REVIEW_BRANCH" --title "$title" --body-file "$body"
      else
        outside gh pr create --base "$BASE_BRANCH" --head "$REVIEW_BRANCH" --title "$title" --body-file "$body"
      fi
      ;;
    gitlab)
      # The body goes through a file (glab api -F key=@file reads it), never an
      # argument: a plan of 60 KB is no command-line word.
      local iid=''
      if [ "$DRY_RUN" != 1 ]; then
        iid=$(glab mr view "$REVIEW_BRANCH" --output json 2>/dev/null | node -e 'try { process.stdout.write(String(JSON.parse(require("fs").readFileSync(0, "utf8")).iid ?? "")) } catch {}') || iid=''
      fi
      if [ -n "$iid" ]; then
        outside glab api --method PUT "projects/:id/merge_requests/$iid" -f "title=$title" -F "description=@$body" >/dev/null
      else
        outside glab api --method POST "projects/:id/merge_requests" -f "source_branch=$REVIEW_BRANCH" -f "target_branch=$BASE_BRANCH" -f "title=$title" -F "description=@$body" >/dev/null
      fi
      ;;
    *) die "FORGE must be github or gitlab, not \"$FORGE\"" 2 ;;
  esac
}

close_stale_review() {
  # A shrink that fixed itself (a source back online) leaves nothing to review.
  [ "$DRY_RUN" = 1 ] && return 0
  case "$FORGE" in
    github) gh pr close "$REVIEW_BRANCH" --delete-branch --comment "Applied within the thresholds on $(date -u +%Y-%m-%d); nothing left to review." >/dev/null 2>&1 || true ;;
    gitlab) glab mr close "$REVIEW_BRANCH" >/dev/null 2>&1 || true ;;
  esac
}

nightly() {
  [ -z "$(git status --porcelain -- "$OUT")" ] || die "$OUT has uncommitted changes; refusing to start" 2
  git checkout -q "$BASE_BRANCH"

  # Collect once: plan and render read the same snapshot, so the plan in the
  # pull request is exactly what was refused. -o (and --state-dir) let collect
  # carry a failed source forward from the state render keeps (exit 5, or 6 for
  # a host key problem), so one list server down does not stop the others.
  log "collecting"
  local rc=0
  rcptsync collect -i "$INVENTORY" -o "$OUT" "${state_args[@]}" -s "$work/snapshot.json" || rc=$?
  case $rc in
    0 | 5 | 6) ;;
    *) die "rcptsync collect failed (exit $rc); nothing was deployed" "$rc" ;;
  esac
  [ -n "$SNAPSHOT_COPY" ] && cp "$work/snapshot.json" "$SNAPSHOT_COPY"

  rc=0
  rcptsync plan -i "$INVENTORY" -o "$OUT" "${state_args[@]}" -s "$work/snapshot.json" --format markdown >"$work/plan.md" || rc=$?
  case $rc in
    0 | 3 | 5 | 6) ;;
    *) die "rcptsync plan failed (exit $rc)" "$rc" ;;
  esac
  # Exit 5 or 6 outranks 3: whether removals are held too, and which sources are
  # carried, is in the JSON plan.
  rc=0
  rcptsync plan -i "$INVENTORY" -o "$OUT" "${state_args[@]}" -s "$work/snapshot.json" --format json >"$work/plan.json" || rc=$?
  case $rc in
    0 | 3 | 5 | 6) ;;
    *) die "rcptsync plan failed (exit $rc)" "$rc" ;;
  esac

  rc=0
  rcptsync render -i "$INVENTORY" -o "$OUT" "${state_args[@]}" "${metrics_args[@]}" -s "$work/snapshot.json" || rc=$?
  case $rc in
    0)
      log "within the safety thresholds: applying"
      if [ "$COMMIT_RENDERED" = 1 ] && commit_paths "rcptsync: nightly render ($(date -u +%Y-%m-%d))" "$OUT"; then
        outside git push -q origin "$BASE_BRANCH"
      fi
      deploy
      close_stale_review
      ;;
    3)
      log "removals held by a safety threshold: deploying the rest, opening a review pull request for them"
      if [ "$COMMIT_RENDERED" = 1 ] && commit_paths "rcptsync: nightly render, removals held for review ($(date -u +%Y-%m-%d))" "$OUT"; then
        outside git push -q origin "$BASE_BRANCH"
      fi
      deploy
      review "$work/plan.md"
      ;;
    5 | 6)
      local carried held
      carried=$(plan_field carried "$work/plan.json")
      held=$(plan_field held "$work/plan.json")
      log "failed sources carried forward ($carried): deploying every other change"
      if [ "$COMMIT_RENDERED" = 1 ] && commit_paths "rcptsync: nightly render, DEGRADED: carried forward: $carried ($(date -u +%Y-%m-%d))" "$OUT"; then
        outside git push -q origin "$BASE_BRANCH"
      fi
      deploy
      if [ "$held" -gt 0 ]; then
        log "removals held by a safety threshold as well: opening a review pull request for them"
        review "$work/plan.md"
      else
        close_stale_review
      fi
      degraded "$rc" "$carried"
      exit "$rc"
      ;;
    *) die "rcptsync render failed (exit $rc); nothing was deployed" "$rc" ;;
  esac
}

# From the JSON plan: `carried` (the carried sources, one line) or `held` (how many held groups).
plan_field() { # field, plan.json
  node -e '
    const plan = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
    const carried = plan.carriedForward ?? [];
    process.stdout.write(process.argv[1] === "held"
      ? String((plan.held ?? []).length)
      : carried.map((c) => `${c.hostKey ? "HOST KEY problem: " : ""}${c.host} ${c.label}`).join(", ") || "none");
  ' "$1" "$2"
}

# Loud on purpose: the healthy changes went out, but a source is failing and is
# only carried until its data is older than rcptsync_max_stale.
degraded() { # exit code, carried sources
  local what="DEGRADED (exit $1): failed sources carried forward from the last-known-good state: $2."
  [ "$1" = 6 ] && what="$what A HOST KEY problem is a security event: verify the key out of band."
  log "$what The other sources' changes are deployed; the failed ones keep their last good addresses until rcptsync_max_stale runs out. Fix them."
  if [ "${GITHUB_ACTIONS:-}" = true ]; then printf '::error title=rcptsync degraded::%s\n' "$what"; fi
}

review() { # plan.md
  local plan=$1 tree="$work/review"
  git worktree add -q -B "$REVIEW_BRANCH" "$tree" "$BASE_BRANCH"
  # shellcheck disable=SC2064
  trap "git worktree remove --force '$tree' 2>/dev/null || true; rm -rf '$work'" EXIT
  mkdir -p "$tree/$REVIEW_DIR"
  cp "$work/snapshot.json" "$tree/$REVIEW_DIR/snapshot.json"
  cp "$plan" "$tree/$REVIEW_DIR/plan.md"
  # Render the refused collection on the branch with --force, against a throwaway
  # copy of the state: the real last-known-good state must stay as it is until a
  # human has merged this.
  local scratch="$work/scratch-state"
  mkdir -p "$scratch"
  # rcptsync keys a state by the output's full path (<name>.<sha256 of the path, 12 hex>.snapshot.json):
  # copy this output's state under the name of the review tree's output.
  local state_file key
  key() { printf '%s' "$(realpath -m "$1")" | sha256sum | cut -c1-12; }
  state_file="${STATE_DIR:-$(dirname "$(realpath "$OUT")")/.rcptsync-state}/$(basename "$OUT").$(key "$OUT").snapshot.json"
  [ -f "$state_file" ] && cp "$state_file" "$scratch/$(basename "$OUT").$(key "$tree/$OUT").snapshot.json"
  # 5 or 6: the snapshot carries a failed source (named in the plan); the tree is rendered all the same.
  local rc=0
  rcptsync render -i "$INVENTORY" -o "$tree/$OUT" --state-dir "$scratch" --force -s "$tree/$REVIEW_DIR/snapshot.json" || rc=$?
  case $rc in
    0 | 5 | 6) ;;
    *) die "rcptsync render of the review branch failed (exit $rc)" "$rc" ;;
  esac
  (
    cd "$tree"
    commit_paths "rcptsync: shrink refused by the safety thresholds, for review" "$OUT" "$REVIEW_DIR" || true
  )
  outside git push -q --force origin "$REVIEW_BRANCH"
  {
    cat "$plan"
    printf '\n---\nThe nightly sync held the removals in this change (they are still accepted on the gateways; the rest was deployed). Merging this pull request applies exactly this snapshot (`%s/snapshot.json`) and this `%s/` tree to the gateways.\n' "$REVIEW_DIR" "$OUT"
  } >"$work/body.md"
  open_review "$work/body.md"
}

apply_reviewed() {
  git checkout -q "$BASE_BRANCH"
  [ -f "$REVIEW_DIR/snapshot.json" ] || die "$REVIEW_DIR/snapshot.json not found: nothing reviewed to apply" 2
  # --force: a human accepted this shrink by merging. The render is deterministic,
  # so the tree must come out byte-identical to the one that was reviewed: checked
  # on a scratch tree first, so that the last-known-good state is replaced only
  # by what was reviewed.
  # A reviewed snapshot that carries a failed source renders with exit 5 or 6, as
  # long as that source's data is within rcptsync_max_stale (past it: exit 1).
  local rc=0
  rcptsync render -i "$INVENTORY" -o "$work/verify/$(basename "$OUT")" --state-dir "$work/verify-state" --force -s "$REVIEW_DIR/snapshot.json" >/dev/null || rc=$?
  case $rc in
    0 | 5 | 6) ;;
    *) die "rcptsync render of the reviewed snapshot failed (exit $rc); not deploying, the state is unchanged" "$rc" ;;
  esac
  if ! diff -r "$work/verify/$(basename "$OUT")" "$OUT" >&2; then
    die "the rendered tree differs from the reviewed one; not deploying, the state is unchanged" 1
  fi
  rc=0
  rcptsync render -i "$INVENTORY" -o "$OUT" "${state_args[@]}" "${metrics_args[@]}" --force -s "$REVIEW_DIR/snapshot.json" || rc=$?
  case $rc in
    0 | 5 | 6) ;;
    *) die "rcptsync render failed (exit $rc); nothing was deployed" "$rc" ;;
  esac
  [ -z "$(git status --porcelain -- "$OUT")" ] || die "the rendered tree changed after the check; not deploying" 1
  deploy
  if [ "$rc" != 0 ]; then
    degraded "$rc" "see the reviewed plan, $REVIEW_DIR/plan.md"
    exit "$rc"
  fi
}

case "${1:-nightly}" in
  nightly) nightly ;;
  apply-reviewed) apply_reviewed ;;
  *) die "usage: $0 [nightly|apply-reviewed]" 2 ;;
esac
