# Sourced by the *_before_after.sh scripts: a checkout of an earlier commit beside this one,
# removed again when the script ends, for measurements alternated A B A B ... in one run.
#
#   source bench/side_by_side.sh; checkout_before REV    # sets OLD to its folder
checkout_before() {
    OLD=$(mktemp -d)
    REPO=$PWD                     # the trap may run elsewhere (both_laid_out leaves for /)
    trap 'git -C "$REPO" worktree remove --force "$OLD" >/dev/null 2>&1 || true' EXIT
    git worktree add --detach -f "$OLD" "$1" >/dev/null 2>&1
}

# The checkout in FOLDER laid out as installed (cellsweep/{cells,sweep,optimise,launch}, with
# bench/ and support/ beside it), in FOLDER/build/installed; prints that path. The editable
# install maps cellsweep.launch & co. to this checkout, so an earlier commit's folders are only
# imported from such a copy, run from outside the checkout (both sides alike, to be fair).
layout_as_installed() {
    local lay=$1/build/installed
    rm -rf "$lay" && mkdir -p "$lay/cellsweep"
    cp "$1"/cellsweep/*.py "$lay/cellsweep/"
    for d in cells sweep optimise launch; do cp -r "$1/$d" "$lay/cellsweep/$d"; done
    cp -r "$1/bench" "$lay/"
    [ -d "$1/support" ] && cp -r "$1/support" "$lay/"
    echo "$lay"
}

# checkout_before REV, then both it and this checkout laid out as installed: sets OLD_LAY and
# NEW_LAY, removes all of it when the script ends, and leaves the script in / (outside both).
both_laid_out() {
    checkout_before "$1"
    OLD_LAY=$(layout_as_installed "$OLD")
    NEW_LAY=$(layout_as_installed "$PWD")
    trap 'git -C "$REPO" worktree remove --force "$OLD" >/dev/null 2>&1 || true; rm -rf "$NEW_LAY"' EXIT
    cd /
}

# after both_laid_out: the laid-out copy of one side ("before" or "after")
laid_out() { if [ "$1" = before ]; then echo "$OLD_LAY"; else echo "$NEW_LAY"; fi; }
