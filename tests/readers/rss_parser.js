// npm rss-parser fetches one feed URL itself (parseURL: a plain GET, it keeps no validators)
// and prints its items as JSON: [{title, link, isoDate, id}]. Used by
// tests/test_reader_matrix.py, which installs rss-parser into a temporary folder and points
// NODE_PATH at it.
const Parser = require('rss-parser');

new Parser({timeout: 10000}).parseURL(process.argv[2]).then(feed => {
  const items = feed.items.map(item => ({
    title: item.title, link: item.link, isoDate: item.isoDate, id: item.id || item.guid,
  }));
  process.stdout.write(JSON.stringify(items));
}).catch(error => {
  console.error(error && error.stack || String(error));
  process.exit(1);
});
