// LayerStats HTML report. Everything the page shows comes from the JSON block above; every name from an image
// (paths, tags, created_by) is data and reaches the page only through textContent or setAttribute, never as markup.
(function () {
  'use strict';

  var SVGNS = 'http://www.w3.org/2000/svg'; // an XML namespace name, not a location: nothing is fetched from it
  var D = JSON.parse(document.getElementById('layerstats-data').textContent);
  var S = D.sections;

  // ---- helpers -------------------------------------------------------------------------------------------------
  function rows(name) {
    var sec = S[name], out = [];
    if (!sec) { return out; }
    for (var r = 0; r < sec.rows.length; r++) {
      var o = {};
      for (var c = 0; c < sec.columns.length; c++) { o[sec.columns[c]] = sec.rows[r][c]; }
      out.push(o);
    }
    return out;
  }
  function total(name) { return S[name] ? S[name].total : 0; }

  function el(tag, attrs) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    for (var i = 2; i < arguments.length; i++) { add(e, arguments[i]); }
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    for (var i = 2; i < arguments.length; i++) { add(e, arguments[i]); }
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) { return; }
    for (var k in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, k) && attrs[k] !== null && attrs[k] !== undefined) {
        e.setAttribute(k, String(attrs[k]));
      }
    }
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) { continue; }
      if (Array.isArray(child)) { child.forEach(function (c) { add(parent, c); }); continue; }
      parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
    }
  }
  function svgTitle(text) { var t = document.createElementNS(SVGNS, 'title'); t.textContent = text; return t; }

  function group(n) {
    if (n === null || n === undefined) { return ''; }
    var s = String(Math.abs(Math.round(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return (n < 0 ? '-' : '') + s;
  }
  var UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  function human(bytes) {
    if (bytes === null || bytes === undefined) { return '–'; }
    var v = bytes, u = 0;
    while (Math.abs(v) >= 1024 && u < UNITS.length - 1) { v /= 1024; u++; }
    return u === 0 ? group(bytes) + ' B' : v.toFixed(1) + ' ' + UNITS[u];
  }
  function exact(bytes) { return bytes === null || bytes === undefined ? 'unknown' : group(bytes) + ' bytes'; }
  function pct(x, digits) { return x === null || x === undefined ? '–' : x.toFixed(digits === undefined ? 1 : digits) + '%'; }
  function shortDigest(d) {
    if (!d) { return ''; }
    var i = d.indexOf(':');
    return i >= 0 ? d.substring(i + 1, i + 13) : d.substring(0, 12);
  }
  // A layer's created_by as a short label: without the shell prefix every RUN line carries (the full text is the tooltip).
  function commandLabel(text) {
    return String(text).replace(/^\/bin\/(ba)?sh -c (#\(nop\) *)?/, '').replace(/ # buildkit$/, '').trim();
  }
  // An image's names, each once (one image reached under the same name from two inputs lists it twice).
  function uniqueNames(names) {
    var seen = {}, out = [];
    String(names).split(', ').forEach(function (n) { if (n && !seen[n]) { seen[n] = true; out.push(n); } });
    return out.join(', ');
  }
  function clip(text, n) { text = String(text); return text.length > n ? text.substring(0, n - 1) + '…' : text; }
  function plural(n, word) { return group(n) + ' ' + word + (n === 1 ? '' : 's'); }
  function bytesSpan(bytes, cls) { return el('span', { title: exact(bytes), 'class': cls || null }, human(bytes)); }

  var imageNames = {};
  rows('image-names').forEach(function (r) { imageNames[r.image_id] = r; });
  var images = rows('images');
  images.forEach(function (r) { imageNames[r.image_id] = r; });
  function imageLabel(id) {
    var r = imageNames[id];
    return r && r.names ? uniqueNames(r.names) : shortDigest(id);
  }

  // ---- header, cards -------------------------------------------------------------------------------------------
  var s = rows('summary')[0] || {};
  var runs = rows('runs');
  (function header() {
    var meta = document.getElementById('meta');
    if (D.title) { add(meta, el('span', null, D.title)); }
    add(meta, el('span', null, 'generated ' + D.generated_at));
    if (runs.length) {
      var last = runs[0];
      add(meta, el('span', null, 'last scan #' + last.run_id + ' ' + (last.finished_at || last.started_at || '') + ' (' + last.status + ')'));
    }
    add(document.getElementById('foot'),
      'LayerStats ' + (D.tool_version || '') + ' · sizes in binary units (1 KiB = 1,024 bytes); hover a size for its exact bytes · ' +
      'figures as defined in docs/figures.md');
  })();

  (function cards() {
    var box = document.getElementById('cards');
    function card(id, label, value, exactValue, sub, tone) {
      add(box, el('div', { 'class': 'card' + (tone ? ' ' + tone : ''), id: 'card-' + id },
        el('div', { 'class': 'label' }, label),
        el('div', { 'class': 'value', title: exactValue, 'data-value': exactValue === null ? null : String(exactValue).replace(/[^0-9.]/g, '') }, value),
        el('div', { 'class': 'sub' }, sub)));
    }
    card('images', 'Images', group(s.images), group(s.images), plural(s.distinct_diff_ids || 0, 'distinct layer content'));
    card('layers', 'Distinct layers', group(s.distinct_layers), group(s.distinct_layers), plural(s.shared_layers || 0, 'shared layer') + ' (used by ≥ 2 images)');
    card('stored', 'Stored vs flat', human(s.unique_compressed_bytes), exact(s.unique_compressed_bytes),
      ['compressed, of ', bytesSpan(s.flat_compressed_bytes), ' if every image were stored whole']);
    card('savings', 'Layering savings', human(s.layering_savings_compressed_bytes), exact(s.layering_savings_compressed_bytes),
      [pct(s.layering_savings_compressed_percent) + ' of flat · uncompressed ', bytesSpan(s.layering_savings_uncompressed_bytes),
        ' (' + pct(s.layering_savings_uncompressed_percent) + ')'], 'good');
    card('duplicates', 'File duplicates', human(s.file_duplicate_bytes), exact(s.file_duplicate_bytes),
      ['within a layer ', bytesSpan(s.file_duplicate_within_layer_bytes), ' · across ', bytesSpan(s.file_duplicate_across_layers_bytes)], 'warn');
    card('hidden', 'Hidden bytes', human(s.hidden_bytes), exact(s.hidden_bytes), 'shipped in layers, not visible in the final filesystem', 'bad');
  })();

  // ---- charts --------------------------------------------------------------------------------------------------
  // Horizontal bars: items are {header} or {label, value, title, color, segments:[{value,color,name}], under:{value,color,name}}.
  function barChart(container, items, opts) {
    opts = opts || {};
    var W = Math.max(420, Math.floor(container.clientWidth || 640)), LW = opts.labelWidth || 190, VW = opts.valueWidth || 78, BW = W - LW - VW - 12,
      RH = opts.rowHeight || 24, y = 4;
    var max = 0;
    items.forEach(function (it) {
      if (it.header) { return; }
      var v = it.segments ? it.segments.reduce(function (a, sg) { return a + sg.value; }, 0) : it.value;
      max = Math.max(max, v || 0, it.under ? it.under.value || 0 : 0);
    });
    if (!items.length) { add(container, el('div', { 'class': 'empty' }, opts.empty || 'Nothing to show.')); return; }
    var g = [];
    items.forEach(function (it) {
      if (it.header) {
        g.push(svg('text', { x: 0, y: y + 14, 'font-weight': 600, 'class': 'muted' }, it.header));
        y += 22;
        return;
      }
      var row = svg('g', { 'class': 'row' });
      var label = String(it.label), suffix = it.suffix ? ' · ' + it.suffix : '';
      var room = Math.floor((LW - 12) / 6.6) - suffix.length;
      row.appendChild(svg('text', { x: LW - 8, y: y + RH / 2 + 4, 'text-anchor': 'end' }, clip(label, Math.max(room, 8)),
        suffix ? svg('tspan', { 'class': 'muted' }, suffix) : null, svgTitle(label + suffix)));
      var x = LW, barH = it.under ? RH - 10 : RH - 7, sum = 0;
      row.appendChild(svg('rect', { x: LW, y: y + 2, width: BW, height: barH, rx: 2, fill: 'var(--track)' }));
      var segs = it.segments || [{ value: it.value, color: it.color || 'var(--bar)', name: '' }];
      segs.forEach(function (sg) {
        var w = max > 0 ? BW * (sg.value || 0) / max : 0;
        if (w > 0) {
          row.appendChild(svg('rect', { 'class': 'bar', x: x, y: y + 2, width: Math.max(w, 1), height: barH, rx: 2, fill: sg.color },
            svgTitle(label + (sg.name ? ' · ' + sg.name : '') + ': ' + human(sg.value) + ' (' + exact(sg.value) + ')')));
        }
        x += w; sum += sg.value || 0;
      });
      if (it.under) {
        var uw = max > 0 ? BW * (it.under.value || 0) / max : 0;
        if (uw > 0) {
          row.appendChild(svg('rect', { 'class': 'bar', x: LW, y: y + barH + 3, width: Math.max(uw, 1), height: 4, rx: 1, fill: it.under.color },
            svgTitle(label + ' · ' + it.under.name + ': ' + human(it.under.value) + ' (' + exact(it.under.value) + ')')));
        }
      }
      var valueText = it.valueText || human(sum);
      row.appendChild(svg('text', { x: W - 2, y: y + RH / 2 + 4, 'text-anchor': 'end', 'class': 'num' },
        it.valueSub ? svg('tspan', { 'class': 'muted' }, it.valueSub + '  ') : null, valueText,
        svgTitle(it.title || exact(sum))));
      g.push(row);
      y += RH;
    });
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + (y + 4), width: W, height: y + 4, role: 'img', 'aria-label': opts.aria || '' });
    g.forEach(function (n) { root.appendChild(n); });
    container.appendChild(root);
  }
  function note(id, text) { var n = document.getElementById(id); if (n) { n.textContent = text; } }
  function capNote(name, shown, what) {
    var t = total(name);
    return t > shown ? 'Showing the top ' + group(shown) + ' of ' + group(t) + ' ' + what + '.' : '';
  }

  (function levels() {
    var lv = rows('storage-levels');
    var colors = { 1: 'var(--flat)', 2: 'var(--stored)', 3: 'var(--dedup)' };
    var items = [];
    ['compressed', 'uncompressed'].forEach(function (basis) {
      var these = lv.filter(function (r) { return r.basis === basis; });
      if (!these.length) { return; }
      items.push({ header: basis === 'compressed' ? 'Compressed blobs (what a registry stores)' : 'Uncompressed content' });
      var flat = these[0].bytes;
      these.forEach(function (r) {
        items.push({ label: r.name, value: r.bytes, color: colors[r.level],
          valueSub: r.level > 1 && flat > 0 ? (100 * r.bytes / flat).toFixed(1) + '% ' : null });
      });
    });
    barChart(document.getElementById('chart-levels'), items, { aria: 'flat, stored and file-deduplicated bytes', labelWidth: 150, valueWidth: 120 });
    note('note-levels', 'Flat: every image stored whole. Layers deduplicated: each distinct layer once. Files deduplicated: ' +
      'on top of that, each distinct file content once (what a dedup filesystem or content-addressed store would add).');
  })();

  var sharedLayers = rows('shared-layers');
  (function sharedChart() {
    var top = sharedLayers.slice(0, 12);
    barChart(document.getElementById('chart-shared'), top.map(function (r) {
      return { label: (r.created_by ? commandLabel(r.created_by) : shortDigest(r.digest)), suffix: r.compression, value: r.saved_bytes, color: 'var(--shared)',
        title: exact(r.saved_bytes) + ' saved: ' + group(r.refs) + ' images share ' + r.digest + (r.created_by ? ' · ' + r.created_by : '') };
    }), { empty: 'No layer is shared by two images.', labelWidth: 300 });
    note('note-shared', 'Saved = blob size × (images using it − 1). Labels are the layer\'s created_by; hover for details. ' +
      capNote('shared-layers', sharedLayers.length, 'shared layers are embedded'));
  })();

  (function dupCharts() {
    var dirs = rows('duplicate-directories').slice(0, 12);
    barChart(document.getElementById('chart-dirs'), dirs.map(function (r) {
      return { label: r.directory, value: r.duplicate_bytes, color: 'var(--unique)', title: exact(r.duplicate_bytes) + ' in ' + plural(r.duplicate_files, 'duplicate file') };
    }), { empty: 'No file content is stored twice.' });
    note('note-dirs', 'Bytes of the duplicate copies (every copy of a content but the first), by the first two levels of their directory. ' +
      (total('duplicate-directories') > dirs.length ? 'Top ' + dirs.length + ' of ' + group(total('duplicate-directories')) + ' directories.' : ''));
    var types = rows('duplicate-extensions').slice(0, 12);
    barChart(document.getElementById('chart-types'), types.map(function (r) {
      return { label: r.extension, value: r.duplicate_bytes, color: 'var(--unique)', title: exact(r.duplicate_bytes) + ' in ' + plural(r.duplicate_files, 'duplicate file') };
    }), { empty: 'No file content is stored twice.' });
    note('note-types', 'The same copies by file-name extension (version suffixes such as .so.1 ignored). ' +
      (total('duplicate-extensions') > types.length ? 'Top ' + types.length + ' of ' + group(total('duplicate-extensions')) + ' types.' : ''));
  })();

  (function stackChart() {
    var box = document.getElementById('chart-stack');
    add(box, el('div', { 'class': 'legend' },
      el('span', null, el('i', { style: 'background: var(--shared)' }), 'in shared layers'),
      el('span', null, el('i', { style: 'background: var(--unique)' }), 'in its own layers'),
      el('span', null, el('i', { style: 'background: var(--hidden)' }), 'hidden (thin bar: files a later layer deletes or replaces)')));
    var top = images.slice().sort(function (a, b) { return b.uncompressed_bytes - a.uncompressed_bytes || (a.image_id < b.image_id ? -1 : 1); }).slice(0, 25);
    barChart(box, top.map(function (r) {
      return {
        label: imageLabel(r.image_id), suffix: r.platform + ' ' + shortDigest(r.image_id).substring(0, 8),
        segments: [
          { value: r.shared_uncompressed_bytes, color: 'var(--shared)', name: 'in shared layers' },
          { value: r.unique_uncompressed_bytes, color: 'var(--unique)', name: 'in its own layers' }],
        under: { value: r.hidden_bytes, color: 'var(--hidden)', name: 'hidden' },
        title: exact(r.uncompressed_bytes) + ' uncompressed, of which ' + exact(r.hidden_bytes) + ' hidden'
      };
    }), { rowHeight: 26, labelWidth: 360, empty: 'No images.' });
    note('note-stack', 'Uncompressed bytes of each image\'s layers, split by whether another image uses the same layer blob. ' +
      (total('images') > top.length ? 'The ' + top.length + ' largest of ' + group(total('images')) + ' images; the table below lists more.' : ''));
  })();

  // ---- shared-base tree ----------------------------------------------------------------------------------------
  (function tree() {
    var box = document.getElementById('tree');
    var bases = rows('shared-bases');
    if (!bases.length) { add(box, el('div', { 'class': 'empty' }, 'No two images start with the same layers.')); return; }
    bases.forEach(function (b) { b.key = (b.layer_digests || []).join(','); b.children = []; });
    var byDepth = bases.slice().sort(function (a, b) { return a.layers - b.layers; });
    var roots = [];
    byDepth.forEach(function (b) {
      var parent = null;
      byDepth.forEach(function (p) {
        if (p.layers < b.layers && b.key.indexOf(p.key + ',') === 0 && (!parent || p.layers > parent.layers)) { parent = p; }
      });
      if (parent) { parent.children.push(b); } else { roots.push(b); }
    });
    var maxBytes = Math.max.apply(null, bases.map(function (b) { return b.base_bytes; }).concat([1]));
    function bySaved(a, b) { return b.saved_bytes - a.saved_bytes || b.images - a.images; }
    function render(list) {
      var ul = el('ul', { 'class': list === roots ? 'tree' : null });
      list.sort(bySaved).forEach(function (b) {
        var inChild = {};
        b.children.forEach(function (c) { (c.image_ids || []).forEach(function (id) { inChild[id] = true; }); });
        var exactImages = (b.image_ids || []).filter(function (id) { var r = imageNames[id]; return r && r.layers === b.layers; });
        var title = exactImages.length ? exactImages.map(imageLabel).join(', ') : 'unnamed base';
        var li = el('li', null,
          el('div', { 'class': 'node' },
            el('div', null,
              el('div', { 'class': 'what' }, title,
                el('span', { 'class': 'id', title: 'top layer ' + b.top_layer }, exactImages.length ? exactImages.map(function (id) { return shortDigest(id).substring(0, 8); }).join(' ') : 'top ' + shortDigest(b.top_layer).substring(0, 8))),
              el('div', { 'class': 'facts' }, plural(b.layers, 'layer') + ' · ', bytesSpan(b.base_bytes), ' · ' + plural(b.images, 'image') + ' · saves ',
                bytesSpan(b.saved_bytes))),
            el('div', { 'class': 'track', title: exact(b.base_bytes) + ' in the base\'s layers' },
              el('div', { 'class': 'fill', style: 'width: ' + (100 * b.base_bytes / maxBytes).toFixed(2) + '%' }))));
        var leaves = (b.image_ids || []).filter(function (id) { return !inChild[id]; });
        if (leaves.length) {
          var shown = leaves.slice(0, 24);
          add(li, el('div', { 'class': 'leaves' }, shown.map(function (id) {
            var r = imageNames[id];
            return el('span', { 'class': 'leaf', title: id + (r && r.layers ? ' · ' + plural(r.layers, 'layer') : '') }, imageLabel(id),
              el('span', { 'class': 'id' }, shortDigest(id).substring(0, 8)));
          }), leaves.length > shown.length ? el('span', { 'class': 'note' }, '+ ' + group(leaves.length - shown.length) + ' more') : null));
        }
        if (b.children.length) { add(li, render(b.children)); }
        add(ul, li);
      });
      return ul;
    }
    add(box, render(roots));
    var capped = capNote('shared-bases', bases.length, 'shared bases (by bytes saved)');
    if (capped) { add(box, el('p', { 'class': 'note' }, capped)); }
  })();

  // ---- tables --------------------------------------------------------------------------------------------------
  // columns: {key, label, type: text|mono|digest|bytes|int|pct|ratio|cmd|paths, value(row) for a computed column}
  function table(container, spec) {
    var pageSize = spec.pageSize || 25, page = 0, sortKey = spec.sortKey, desc = spec.desc !== false, filter = '';
    var all = spec.rows.map(function (r) {
      var hay = spec.columns.map(function (c) {
        var v = c.value ? c.value(r) : r[c.key];
        return Array.isArray(v) ? v.join(' ') : (v === null || v === undefined ? '' : String(v));
      }).join('\u0001').toLowerCase();
      return { r: r, hay: hay };
    });
    var view = all;
    var input = el('input', { type: 'search', placeholder: spec.placeholder || 'Filter…', 'aria-label': 'filter' });
    var count = el('span', { 'class': 'count' });
    var tools = el('div', { 'class': 'tools' }, input, count);
    if (spec.total > spec.rows.length) {
      add(tools, el('span', { 'class': 'cap' }, 'showing ' + group(spec.rows.length) + ' of ' + group(spec.total) +
        (spec.capWhat ? ' ' + spec.capWhat : '') + ' (raise --top to embed more)'));
    }
    var thead = el('tr');
    var ths = spec.columns.map(function (c) {
      var numeric = /^(bytes|int|pct|ratio)$/.test(c.type);
      var th = el('th', { 'class': numeric ? 'num' : null, title: c.help || null }, c.label);
      th.addEventListener('click', function () {
        if (sortKey === c.key) { desc = !desc; } else { sortKey = c.key; desc = numeric; }
        page = 0; apply();
      });
      thead.appendChild(th);
      return th;
    });
    var tbody = el('tbody');
    var pager = el('div', { 'class': 'pager' });
    add(container, tools, el('div', { 'class': 'scroll' }, el('table', null, el('thead', null, thead), tbody)), pager);
    input.addEventListener('input', function () { filter = input.value.toLowerCase(); page = 0; apply(); });

    function cell(c, r) {
      var v = c.value ? c.value(r) : r[c.key];
      switch (c.type) {
        case 'bytes': return el('td', { 'class': v === 0 ? 'num zero' : 'num', title: exact(v) }, human(v));
        case 'int': return el('td', { 'class': 'num' }, group(v));
        case 'pct': return el('td', { 'class': 'num' }, pct(v));
        case 'ratio': return el('td', { 'class': 'num', title: v === null ? null : String(v) }, v === null || v === undefined ? '–' : (100 * v).toFixed(2) + '%');
        case 'digest': return el('td', { 'class': 'mono', title: v || '' }, shortDigest(v));
        case 'hash': return el('td', { 'class': 'mono', title: v || '' }, v ? v.substring(0, 16) + '…' : '');
        case 'mono': return el('td', { 'class': 'mono' }, v === null || v === undefined ? '' : String(v));
        case 'cmd': return el('td', { 'class': 'cmd' }, v === null || v === undefined ? '' : String(v));
        case 'paths': return el('td', { 'class': 'paths' }, (v || []).map(function (p) { return el('div', null, p); }));
        default: return el('td', { 'class': c.wrap ? 'wrap' : null }, c.render ? c.render(r) : (v === null || v === undefined ? '' : String(v)));
      }
    }
    function compare(a, b) {
      var col = spec.columns.filter(function (c) { return c.key === sortKey; })[0];
      var va = col && col.value ? col.value(a.r) : a.r[sortKey], vb = col && col.value ? col.value(b.r) : b.r[sortKey];
      if (va === vb) { return 0; }
      if (va === null || va === undefined) { return 1; }
      if (vb === null || vb === undefined) { return -1; }
      var d = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb));
      return desc ? -d : d;
    }
    function apply() {
      view = filter ? all.filter(function (x) { return x.hay.indexOf(filter) >= 0; }) : all.slice();
      if (sortKey) { view.sort(compare); }
      ths.forEach(function (th, i) {
        var old = th.querySelector('.arrow');
        if (old) { th.removeChild(old); }
        if (spec.columns[i].key === sortKey) { th.appendChild(el('span', { 'class': 'arrow' }, desc ? '▼' : '▲')); }
      });
      render();
    }
    function render() {
      while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
      var pages = Math.max(1, Math.ceil(view.length / pageSize));
      if (page >= pages) { page = pages - 1; }
      var start = page * pageSize, slice = view.slice(start, start + pageSize);
      slice.forEach(function (x) {
        var tr = el('tr', { 'class': spec.onSelect ? 'clickable' : null });
        spec.columns.forEach(function (c) { tr.appendChild(cell(c, x.r)); });
        if (spec.onSelect) {
          if (spec.selected && spec.selected() === x.r) { tr.className += ' selected'; }
          tr.addEventListener('click', function () { spec.onSelect(x.r); render(); });
        }
        tbody.appendChild(tr);
      });
      if (!slice.length) {
        tbody.appendChild(el('tr', null, el('td', { colspan: spec.columns.length, 'class': 'empty' }, filter ? 'No row matches the filter.' : 'No rows.')));
      }
      count.textContent = filter ? group(view.length) + ' of ' + plural(all.length, 'row') + ' match' : plural(all.length, 'row');
      while (pager.firstChild) { pager.removeChild(pager.firstChild); }
      if (view.length > pageSize) {
        var prev = el('button', { type: 'button' }, '‹ Prev'), next = el('button', { type: 'button' }, 'Next ›');
        prev.disabled = page === 0; next.disabled = page >= pages - 1;
        prev.addEventListener('click', function () { page--; render(); });
        next.addEventListener('click', function () { page++; render(); });
        add(pager, group(start + 1) + '–' + group(start + slice.length) + ' of ' + group(view.length), prev, next);
      }
    }
    apply();
  }

  // Images, with the drill-down into one image's layers.
  var layersByImage = {};
  rows('image-layers').forEach(function (r) { (layersByImage[r.image_id] = layersByImage[r.image_id] || []).push(r); });
  var selectedImage = images[0] || null;
  function drill(img) {
    selectedImage = img;
    var box = document.getElementById('table-drill');
    while (box.firstChild) { box.removeChild(box.firstChild); }
    document.getElementById('drill-title').textContent = img ? 'Layers of ' + imageLabel(img.image_id) + ' (' + img.platform + ')' : 'Layers of an image';
    note('drill-note', img ? img.image_id + ' · bottom layer first · click another image above to see its layers' : 'No images.');
    if (!img) { return; }
    table(box, {
      rows: layersByImage[img.image_id] || [], total: (layersByImage[img.image_id] || []).length, sortKey: 'position', desc: false, pageSize: 50,
      placeholder: 'Filter layers…',
      columns: [
        { key: 'position', label: '#', type: 'int' },
        { key: 'digest', label: 'Blob', type: 'digest' },
        { key: 'size', label: 'Compressed', type: 'bytes' },
        { key: 'uncompressed_size', label: 'Uncompressed', type: 'bytes' },
        { key: 'compression', label: 'Compression', type: 'text' },
        { key: 'refs', label: 'Images using it', type: 'int', help: 'distinct images whose layers include this blob' },
        { key: 'created_by', label: 'Created by', type: 'cmd' }]
    });
  }
  table(document.getElementById('table-images'), {
    rows: images, total: total('images'), sortKey: 'compressed_bytes', capWhat: 'images (largest compressed first)',
    placeholder: 'Filter by name, digest, platform…',
    onSelect: function (r) { drill(r); document.getElementById('drill').scrollIntoView({ block: 'nearest' }); },
    selected: function () { return selectedImage; },
    columns: [
      { key: 'names', label: 'Image', type: 'text', value: function (r) { return r.names ? uniqueNames(r.names) : ''; }, render: function (r) { return r.names ? uniqueNames(r.names) : '(no name)'; } },
      { key: 'image_id', label: 'Digest', type: 'digest' },
      { key: 'platform', label: 'Platform', type: 'text' },
      { key: 'layers', label: 'Layers', type: 'int' },
      { key: 'compressed_bytes', label: 'Compressed', type: 'bytes' },
      { key: 'uncompressed_bytes', label: 'Uncompressed', type: 'bytes' },
      { key: 'unique_compressed_bytes', label: 'Own layers', type: 'bytes', help: 'compressed bytes of layers no other image uses' },
      { key: 'hidden_bytes', label: 'Hidden', type: 'bytes' },
      { key: 'efficiency', label: 'Efficiency', type: 'ratio', help: 'dive\'s efficiency' },
      { key: 'wasted_bytes', label: 'Wasted', type: 'bytes', help: 'dive\'s wasted bytes' },
      { key: 'created', label: 'Created', type: 'text' }]
  });
  drill(selectedImage);

  table(document.getElementById('table-layers'), {
    rows: rows('layers'), total: total('layers'), sortKey: 'size', capWhat: 'layers (largest first)', placeholder: 'Filter by digest, created_by…',
    columns: [
      { key: 'digest', label: 'Blob', type: 'digest' },
      { key: 'diff_id', label: 'diff_id', type: 'digest' },
      { key: 'size', label: 'Compressed', type: 'bytes' },
      { key: 'uncompressed_size', label: 'Uncompressed', type: 'bytes' },
      { key: 'compression', label: 'Compression', type: 'text' },
      { key: 'refs', label: 'Images', type: 'int' },
      { key: 'saved_bytes', label: 'Saved', type: 'bytes', help: 'size × (images − 1)' },
      { key: 'files', label: 'Files', type: 'int' },
      { key: 'created_by', label: 'Created by', type: 'cmd' }]
  });

  table(document.getElementById('table-shared'), {
    rows: sharedLayers, total: total('shared-layers'), sortKey: 'saved_bytes', capWhat: 'shared layers (most saved first)', placeholder: 'Filter…',
    columns: [
      { key: 'digest', label: 'Blob', type: 'digest' },
      { key: 'refs', label: 'Images', type: 'int' },
      { key: 'size', label: 'Compressed', type: 'bytes' },
      { key: 'uncompressed_size', label: 'Uncompressed', type: 'bytes' },
      { key: 'saved_bytes', label: 'Saved', type: 'bytes', help: 'size × (images − 1)' },
      { key: 'created_by', label: 'Created by', type: 'cmd' }]
  });

  table(document.getElementById('table-duplicates'), {
    rows: rows('duplicates'), total: total('duplicates'), sortKey: 'duplicate_bytes', capWhat: 'duplicated contents (most duplicate bytes first)',
    placeholder: 'Filter by path or hash…',
    columns: [
      { key: 'content_hash', label: 'Content (XxHash128)', type: 'hash' },
      { key: 'size', label: 'Size', type: 'bytes' },
      { key: 'occurrences', label: 'Copies', type: 'int' },
      { key: 'layers', label: 'Layers', type: 'int' },
      { key: 'duplicate_bytes', label: 'Duplicate bytes', type: 'bytes', help: 'size × (copies − 1)' },
      { key: 'example_paths', label: 'Paths (up to 5)', type: 'paths' }]
  });

  // Runs over time: images committed and new per run (oldest left), bytes read on hover.
  (function runChart() {
    var box = document.getElementById('chart-runs');
    var list = runs.slice(0, 60).reverse();
    if (list.length < 2) { return; }
    var W = Math.max(420, Math.floor(box.clientWidth || 800)), H = 120, L = 44, B = 18;
    var max = Math.max.apply(null, list.map(function (r) { return r.images_ok || 0; }).concat([1]));
    var step = (W - L) / list.length, bw = Math.max(2, Math.min(28, step * 0.7));
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', 'aria-label': 'images per run' });
    root.appendChild(svg('text', { x: L - 6, y: 12, 'text-anchor': 'end', 'class': 'muted num' }, group(max)));
    root.appendChild(svg('text', { x: L - 6, y: H - B, 'text-anchor': 'end', 'class': 'muted num' }, '0'));
    root.appendChild(svg('line', { x1: L, x2: W, y1: H - B + 0.5, y2: H - B + 0.5, 'class': 'grid' }));
    list.forEach(function (r, i) {
      var x = L + i * step + (step - bw) / 2, h = (H - B - 8) * (r.images_ok || 0) / max, hn = (H - B - 8) * (r.images_new || 0) / max;
      var tip = 'run ' + r.run_id + ' · ' + (r.started_at || '') + ' · ' + r.status + ': ' + group(r.images_ok || 0) + ' images, ' +
        group(r.images_new || 0) + ' new, ' + group(r.images_failed || 0) + ' failed, ' + human(r.bytes_read) + ' read, ' +
        human(r.stored_bytes) + ' stored, ' + group(r.layers_new || 0) + ' layers new, ' + group(r.layers_gone || 0) + ' gone';
      root.appendChild(svg('rect', { 'class': 'bar', x: x, y: H - B - h, width: bw, height: Math.max(h, 0.5), fill: r.status === 'ok' ? 'var(--flat)' : 'var(--hidden)' }, svgTitle(tip)));
      if (hn > 0) { root.appendChild(svg('rect', { x: x, y: H - B - hn, width: bw, height: hn, fill: 'var(--shared)' }, svgTitle(tip))); }
      if (list.length <= 20 || i % Math.ceil(list.length / 20) === 0) {
        root.appendChild(svg('text', { x: x + bw / 2, y: H - 4, 'text-anchor': 'middle', 'class': 'muted num' }, '#' + r.run_id));
      }
    });
    add(box, el('div', { 'class': 'legend' },
      el('span', null, el('i', { style: 'background: var(--flat)' }), 'images in the run'),
      el('span', null, el('i', { style: 'background: var(--shared)' }), 'of which new'),
      el('span', null, el('i', { style: 'background: var(--hidden)' }), 'run with failed inputs')), root);
  })();

  table(document.getElementById('table-runs'), {
    rows: runs, total: total('runs'), sortKey: 'run_id', capWhat: 'runs (latest first)', placeholder: 'Filter…', pageSize: 10,
    columns: [
      { key: 'run_id', label: 'Run', type: 'int' },
      { key: 'started_at', label: 'Started (UTC)', type: 'text' },
      { key: 'status', label: 'Status', type: 'text' },
      { key: 'duration_seconds', label: 'Seconds', type: 'int', value: function (r) { return r.duration_seconds === null ? null : Math.round(r.duration_seconds); } },
      { key: 'inputs', label: 'Inputs', type: 'int' },
      { key: 'images_ok', label: 'Images', type: 'int' },
      { key: 'images_new', label: 'New images', type: 'int' },
      { key: 'images_failed', label: 'Failed', type: 'int' },
      { key: 'stored_bytes', label: 'Stored', type: 'bytes' },
      { key: 'file_duplicate_bytes', label: 'File duplicates', type: 'bytes' },
      { key: 'layers_new', label: 'Layers new', type: 'int' },
      { key: 'layers_gone', label: 'Layers gone', type: 'int' },
      { key: 'layers_read', label: 'Layers read', type: 'int' },
      { key: 'layers_skipped', label: 'Already stored', type: 'int' },
      { key: 'bytes_read', label: 'Bytes read', type: 'bytes' },
      { key: 'errors', label: 'Errors', type: 'int' }]
  });
})();
