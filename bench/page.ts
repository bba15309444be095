/**
 * @module
 * The HTML page the RUM phase of `npm run bench` loads: a product listing of
 * about 34 KB, shaped like a real one rather than a tiny `<head>` and `<p>`,
 * because HTMLRewriter scans the whole streamed body, not only the part up to
 * the one tag it adds. A `<head>` with metadata, a stylesheet, preloads, JSON-LD,
 * inline critical CSS and scripts; a body of navigation, 24 product cards
 * (links, images, prices, buttons, data attributes) and a footer.
 * Deterministic: the same bytes on every run and from both origins.
 */

export const PAGE_PATH = '/page'

const CARDS = 24
const CATEGORIES = ['Tents', 'Backpacks', 'Sleeping bags', 'Stoves', 'Lights', 'Water', 'Footwear', 'Jackets', 'Navigation', 'First aid']
const ADJECTIVES = ['Ultralight', 'Trail', 'Summit', 'Alpine', 'Expedition', 'Compact', 'Weatherproof', 'Everyday']

const CSS = `:root{--ink:#1b1f23;--muted:#59636e;--accent:#0b6bcb;--bg:#fff;--card:#f6f8fa;--radius:8px}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
.site-header{display:flex;align-items:center;gap:24px;padding:12px 24px;border-bottom:1px solid #d0d7de}
.site-header nav ul{display:flex;gap:16px;list-style:none;margin:0;padding:0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:20px;padding:24px}
.card{background:var(--card);border-radius:var(--radius);padding:12px;display:flex;flex-direction:column;gap:6px}
.card img{width:100%;height:auto;border-radius:calc(var(--radius) - 2px);aspect-ratio:4/3;object-fit:cover}
.card h2{font-size:1rem;margin:0}.price{font-weight:600}.price del{color:var(--muted);font-weight:400;margin-left:6px}
.rating{color:#b08800;font-size:.875rem}.card button{margin-top:auto;padding:8px;border:0;border-radius:6px;background:var(--accent);color:#fff;cursor:pointer}
.site-footer{padding:24px;border-top:1px solid #d0d7de;color:var(--muted);font-size:.875rem}.site-footer ul{columns:4;list-style:none;padding:0}`

function card(i: number): string {
  const category = CATEGORIES[i % CATEGORIES.length]!
  const name = `${ADJECTIVES[i % ADJECTIVES.length]} ${category.replace(/s$/, '').toLowerCase()} ${100 + i * 7}`
  const sku = `SKU-${(48_611 + i * 131).toString(36).toUpperCase()}`
  const price = (19 + ((i * 37) % 280) + 0.99).toFixed(2)
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-')
  return `      <article class="card" data-sku="${sku}" data-category="${category.toLowerCase()}" itemscope itemtype="https://schema.org/Product">
        <a href="/p/${slug}" aria-label="${name}">
          <img src="https://cdn.shop.example/img/${slug}-480.webp" srcset="https://cdn.shop.example/img/${slug}-480.webp 480w, https://cdn.shop.example/img/${slug}-960.webp 960w" sizes="(max-width: 600px) 100vw, 240px" width="480" height="360" loading="${i < 4 ? 'eager' : 'lazy'}" decoding="async" alt="${name}, ${category.toLowerCase()}">
        </a>
        <h2 itemprop="name"><a href="/p/${slug}">${name}</a></h2>
        <p class="price" itemprop="offers" itemscope itemtype="https://schema.org/Offer"><span itemprop="price" content="${price}">&pound;${price}</span>${i % 3 === 0 ? ` <del>&pound;${(Number(price) * 1.2).toFixed(2)}</del>` : ''}</p>
        <p class="rating" aria-label="Rated ${3 + (i % 3)} out of 5">${'&#9733;'.repeat(3 + (i % 3))}${'&#9734;'.repeat(2 - (i % 3))} <span>(${12 + ((i * 53) % 400)})</span></p>
        <p class="blurb">Built for long days outside: ${category.toLowerCase()} that pack small, weigh little and last for seasons. Free returns within 30 days.</p>
        <button type="button" class="add" data-sku="${sku}" data-price="${price}">Add to basket</button>
      </article>`
}

/** The page; `label` (the origin's) appears only in a comment, so both origins serve the same size. */
export function pageDocument(label: string): string {
  const nav = CATEGORIES.map((c) => `<li><a href="/c/${c.toLowerCase().replace(/ /g, '-')}">${c}</a></li>`).join('')
  const footer = Array.from({ length: 24 }, (_, i) => `<li><a href="/help/${i}">Help topic ${i + 1}</a></li>`).join('')
  const ld = JSON.stringify({
    '@context': 'https://schema.org',
    '@type': 'ItemList',
    itemListElement: Array.from({ length: 10 }, (_, i) => ({ '@type': 'ListItem', position: i + 1, url: `https://shop.example/p/${i}` })),
  })
  return `<!doctype html>
<!-- served by ${label} -->
<html lang="en-GB">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Outdoor gear: tents, packs and stoves | Example Shop</title>
    <meta name="description" content="Tents, backpacks, sleeping bags, stoves and everything else for a night outside. Free delivery over £50.">
    <meta property="og:title" content="Outdoor gear | Example Shop">
    <meta property="og:image" content="https://cdn.shop.example/og/outdoor.jpg">
    <link rel="canonical" href="https://shop.example/c/outdoor">
    <link rel="preconnect" href="https://cdn.shop.example" crossorigin>
    <link rel="preload" href="/assets/inter-var.woff2" as="font" type="font/woff2" crossorigin>
    <link rel="stylesheet" href="/assets/app.3f9c2a71.css">
    <link rel="icon" href="/favicon.ico" sizes="any">
    <script type="application/ld+json">${ld}</script>
    <style>${CSS}</style>
    <script>window.dataLayer=window.dataLayer||[];window.dataLayer.push({page:'category',category:'outdoor',items:${CARDS}})</script>
    <script src="/assets/app.91b7e4c0.js" defer></script>
  </head>
  <body>
    <header class="site-header">
      <a class="logo" href="/"><img src="/assets/logo.svg" width="120" height="32" alt="Example Shop"></a>
      <nav aria-label="Categories"><ul>${nav}</ul></nav>
      <form role="search" action="/search"><input type="search" name="q" placeholder="Search gear" aria-label="Search"><button>Search</button></form>
    </header>
    <main>
      <h1>Outdoor gear</h1>
      <p class="intro">Everything for a night outside, from a first tent to an expedition stove. Prices include VAT.</p>
      <section class="grid" aria-label="Products">
${Array.from({ length: CARDS }, (_, i) => card(i)).join('\n')}
      </section>
      <nav class="pagination" aria-label="Pages"><a href="?page=1" aria-current="page">1</a> <a href="?page=2">2</a> <a href="?page=3">3</a> <a href="?page=2" rel="next">Next</a></nav>
    </main>
    <footer class="site-footer"><ul>${footer}</ul><p>&copy; 2026 Example Shop Ltd. All prices in GBP.</p></footer>
    <script>document.querySelectorAll('button.add').forEach(function(b){b.addEventListener('click',function(){window.dataLayer.push({event:'add',sku:b.dataset.sku})})})</script>
  </body>
</html>
`
}
