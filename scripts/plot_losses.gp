# plot_losses.gp - draw every loss curve in a lora_demo losses.csv as a PNG.
#
#   gnuplot -e "infile='results/losses.csv'; outfile='results/losses.png'" scripts/plot_losses.gp
#
# The columns are read from the header (epoch, then one column per model), so
# any list of ranks plots. Empty cells (a model that diverged) are gaps.
if (!exists("infile")) infile = 'results/losses.csv'
if (!exists("outfile")) outfile = 'results/losses.png'

set datafile separator ','
set datafile missing ''
stats infile skip 1 nooutput
ncols = STATS_columns

set terminal pngcairo size 900,560 noenhanced font ',11'
set output outfile
set title 'lora_demo: training loss per epoch'
set xlabel 'epoch'
set ylabel 'training MSE (log scale)'
set logscale y
# Label the log axis densely enough to read: at 1, 2 and 5 times each power
# of ten; at every 1..9 (and 1.5) when all curves lie within one decade;
# at evenly spaced round values (0.9, 1.0, 1.1, ...) when they lie within a
# factor of 3, as the scratch experiment's do (about 0.95 to 1.5).
ymin = 1e300
ymax = -1e300
do for [i=2:ncols] {
    stats infile using i skip 1 nooutput
    if (STATS_min < ymin) { ymin = STATS_min }
    if (STATS_max > ymax) { ymax = STATS_max }
}
set ytics () format '%g'
if (ymax < 3 * ymin) {
    step = 10.0**floor(log10((ymax - ymin) / 2))
    do for [k=int(floor(ymin / step)):int(ceil(ymax / step))] { set ytics add (k * step) }
} else {
    do for [e=-12:12] {
        if (ymax < 10 * ymin) {
            do for [k=1:9] { set ytics add (k*10.0**e) }
            set ytics add (1.5*10.0**e)
        } else {
            set ytics add (10.0**e, 2*10.0**e, 5*10.0**e)
        }
    }
}
set autoscale yfix
set offsets 0, 0, graph 0.05, graph 0.05
set grid xtics ytics mytics
set key outside right top
plot for [i=2:ncols] infile using 1:i with lines linewidth 2 title columnhead(i)
