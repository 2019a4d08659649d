#!/bin/bash
# Hot files lend on this kernel: tests/root/compact-hot.sh in the guest.
# A borrow placement takes the block beside a hole from its owner for a
# moment with EXT4_IOC_MOVE_EXT and gives it back; files written within
# --min-age may be that owner, and one somebody holds open never is.
# MOVE_EXT's handling of a file's cached and dirty pages differs between
# kernels (6.19 rewrote it), so the matrix runs it on each (make check-vm).
. "$(dirname "$0")/../root/compact-hot.sh"
