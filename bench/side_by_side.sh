# Sourced by the *_before_after.sh scripts: a checkout of an earlier commit beside this one,
# removed again when the script ends, for measurements alternated A B A B ... in one run.
#
#   source bench/side_by_side.sh; checkout_before REV    # sets OLD to its folder
checkout_before() {
    OLD=$(mktemp -d)
    trap 'git worktree remove --force "$OLD" >/dev/null 2>&1 || true' EXIT
    git worktree add --detach -f "$OLD" "$1" >/dev/null 2>&1
}
