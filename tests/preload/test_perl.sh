#!/usr/bin/env bash
# Debian's perl under `hugepage run`: a 400000-key hash of arrays, sorting,
# string building, regexes: the output is the plain run's, and at its peak
# (holding the data, waiting on stdin) huge pages hold >= 75% of its anonymous
# memory (lib.sh's criterion).
. "$(dirname "$0")/lib.sh"
need_prog perl perl
cat >"$tmp/work.pl" <<'PERL'
use strict;
use warnings;
my %h;
for my $i (1 .. 400000) {
    $h{"key$i"} = [ $i, ("x" x ($i % 200)), { n => $i * 3 } ];
}
my @sorted = sort { $h{$b}[0] % 1009 <=> $h{$a}[0] % 1009 or $a cmp $b } keys %h;
my $joined = join(",", @sorted[0 .. 9999]);
my $digits = () = $joined =~ /\d/g;
my $len = 0;
$len += length($h{$_}[1]) for keys %h;
print "keys ", scalar(keys %h), " first $sorted[0] last $sorted[-1]\n";
print "joined ", length($joined), " digits $digits strings $len\n";
if (@ARGV && $ARGV[0] eq "--pause") {
    print STDERR "ready $$\n";
    my $line = <STDIN>;
}
print "end ", scalar(@sorted), "\n";
PERL
for mode in "${modes[@]}"; do
    same_run perl-$mode "$mode" perl "$tmp/work.pl"
    start_paused perl "$mode" perl "$tmp/work.pl" --pause
    wait_for "$tmp/perl.out.err" '^ready' "$pid" "perl ($mode)"
    read -r _ prog_pid <"$tmp/perl.out.err"
    coverage "$prog_pid" "perl --mode $mode"
    resume
    cmp -s "$tmp/perl.out" "$tmp/perl-$mode.plain" || fail "perl ($mode) paused run printed otherwise"
done
[ -s "$tmp/perl-auto.plain" ] || fail "perl printed nothing"
finish
