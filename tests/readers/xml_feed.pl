#!/usr/bin/perl
# Perl's XML::Feed (Debian libxml-feed-perl) reads one feed document from stdin and prints what
# it shows for each entry, one line each, as UTF-8: title TAB link TAB issued (Unix seconds,
# empty when it has none) TAB id. Used by tests/test_reader_matrix.py.
use strict;
use warnings;
use XML::Feed;

# XML::Atom (which XML::Feed uses for Atom) hands back titles as UTF-8 *byte* strings unless
# this documented switch is on, while XML::RSS hands back character strings. Without it,
# every non-ASCII Atom title printed through the UTF-8 layer below comes out double-encoded
# ("עברית" -> "×¢××¨××ª"): an API quirk of XML::Atom, not something in the feed's bytes.
$XML::Atom::ForceUnicode = 1;

binmode STDOUT, ':encoding(UTF-8)';
my $bytes = do { local $/; <STDIN> };
my $feed = XML::Feed->parse(\$bytes) or die 'XML::Feed: ' . XML::Feed->errstr . "\n";
print "# ", $feed->format, "\n";
for my $entry ($feed->entries) {
    my $issued = $entry->issued;
    print join("\t", $entry->title // '', $entry->link // '',
               defined $issued ? $issued->epoch : '', $entry->id // ''), "\n";
}
