#!/bin/sh
# plot.sh - `make plot`: results/losses.csv -> results/losses.png with gnuplot.
# usage: plot.sh [DIR]   (default results)
set -eu
dir=${1:-results}
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot: gnuplot is not installed; install it with: apt-get install gnuplot-nox" >&2
    exit 1
fi
if [ ! -f "$dir/losses.csv" ]; then
    echo "plot: $dir/losses.csv not found; run 'make run' first" >&2
    exit 1
fi
tmp="$dir/losses.png.tmp.$$"
trap 'rm -f "$tmp"' EXIT
gnuplot -e "infile='$dir/losses.csv'; outfile='$tmp'" "$(dirname "$0")/plot_losses.gp"
mv "$tmp" "$dir/losses.png"
echo "wrote $dir/losses.png"
