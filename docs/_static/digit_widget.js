/* Chapter 7's interactive figure: draw a digit, watch the 784-16-16-10 network answer.
 *
 * The weights are in window.MICROGRAD_PLUS_DIGIT_NET (digit_weights.js, written when the site
 * was built by docs/_ext/digit_weights.py from a real training run of micrograd_plus). This file
 * does three things, each in a few lines:
 *   1. turn the drawing into 28x28 pixels the way MNIST was made (fit the ink's bounding box
 *      into 20x20, then put its centre of mass at the centre of a 28x28 field);
 *   2. the forward pass: a = sigmoid(W a + b) per hidden layer, logits = W a + b, then softmax;
 *   3. draw the activations: every neuron lights up with its activation, the bars show the
 *      probability of each digit.
 * Plain JavaScript, no library, no network.
 */
(function () {
  "use strict";

  // ---- 2. the network ------------------------------------------------------------------------
  function sigmoid(z) { return 1 / (1 + Math.exp(-z)); }

  // One layer: z_j = b_j + sum_i W[j][i] a_i  (W is (out, in), as in micrograd_plus and PyTorch).
  function linear(layer, a) {
    return layer.W.map(function (row, j) {
      var z = layer.b[j];
      for (var i = 0; i < row.length; i++) z += row[i] * a[i];
      return z;
    });
  }

  // All activations: [input (784), hidden 1 (16), hidden 2 (16), logits (10)].
  function forward(net, x) {
    var acts = [x];
    net.layers.forEach(function (layer, l) {
      var z = linear(layer, acts[acts.length - 1]);
      acts.push(l < net.layers.length - 1 ? z.map(sigmoid) : z);
    });
    return acts;
  }

  function softmax(z) {
    var m = Math.max.apply(null, z);
    var e = z.map(function (v) { return Math.exp(v - m); });
    var s = e.reduce(function (p, q) { return p + q; }, 0);
    return e.map(function (v) { return v / s; });
  }

  // ---- 1. drawing -> 28x28, as MNIST was made ---------------------------------------------------
  // ink: Float32Array of size*size values in [0, 1] (1 = ink), row by row. Returns 784 values, or
  // null when nothing is drawn.
  function toMnist(ink, size) {
    var x0 = size, y0 = size, x1 = -1, y1 = -1, x, y;
    for (y = 0; y < size; y++) for (x = 0; x < size; x++) {
      if (ink[y * size + x] > 0.05) {
        if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
      }
    }
    if (x1 < 0) return null;
    var w = x1 - x0 + 1, h = y1 - y0 + 1, scale = 20 / Math.max(w, h);
    var sw = Math.max(1, Math.round(w * scale)), sh = Math.max(1, Math.round(h * scale));
    // Area-average the bounding box down to sw x sh (at most 20 x 20): anti-aliased grey edges.
    var sum = new Float32Array(sw * sh), count = new Float32Array(sw * sh);
    for (y = y0; y <= y1; y++) for (x = x0; x <= x1; x++) {
      var tx = Math.min(sw - 1, Math.floor((x - x0) * sw / w));
      var ty = Math.min(sh - 1, Math.floor((y - y0) * sh / h));
      sum[ty * sw + tx] += ink[y * size + x];
      count[ty * sw + tx] += 1;
    }
    var small = new Float32Array(sw * sh), mass = 0, cx = 0, cy = 0;
    for (y = 0; y < sh; y++) for (x = 0; x < sw; x++) {
      var v = small[y * sw + x] = sum[y * sw + x] / count[y * sw + x];
      mass += v; cx += v * (x + 0.5); cy += v * (y + 0.5);
    }
    // Put the centre of mass at the centre (14, 14) of the 28x28 field.
    var ox = Math.round(14 - cx / mass), oy = Math.round(14 - cy / mass);
    var out = new Array(784).fill(0);
    for (y = 0; y < sh; y++) for (x = 0; x < sw; x++) {
      var X = x + ox, Y = y + oy;
      if (X >= 0 && X < 28 && Y >= 0 && Y < 28) out[Y * 28 + X] = Math.min(1, small[y * sw + x]);
    }
    return out;
  }

  // ---- 3. the figure -------------------------------------------------------------------------
  // A probability as a whole percentage; never "100%" or "0%" for what is only nearly so.
  function percent(p) {
    if (p > 0.995) return ">99%";
    if (p > 0 && p < 0.005) return "<1%";
    return (100 * p).toFixed(0) + "%";
  }

  function el(tag, cls, parent, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function build(root, net) {
    root.innerHTML = "";
    var SIZE = 280;
    var left = el("div", "dw-left", root);
    var pad = el("canvas", "dw-pad", left);
    pad.width = SIZE; pad.height = SIZE;
    pad.setAttribute("aria-label", "drawing area: draw a digit with the mouse or a finger");
    var buttons = el("div", "dw-buttons", left);
    var clear = el("button", "dw-clear", buttons, "Clear");
    var example = el("button", "dw-example", buttons, "A test image");
    clear.type = example.type = "button";

    var right = el("div", "dw-right", root);
    var said = el("p", "dw-said", right, "Draw a digit in the box.");
    var layersBox = el("div", "dw-layers", right);
    var seenCol = el("div", "dw-col", layersBox);
    el("div", "dw-col-title", seenCol, "input: 28\u00d728");
    var seen = el("canvas", "dw-seen", seenCol);
    seen.width = 28; seen.height = 28;
    var hidden = [1, 2].map(function (n) {
      var col = el("div", "dw-col", layersBox);
      el("div", "dw-col-title", col, "hidden " + n + ": " + net.sizes[n]);
      var grid = el("div", "dw-neurons", col);
      var cells = [];
      for (var j = 0; j < net.sizes[n]; j++) cells.push(el("div", "dw-neuron", grid));
      return cells;
    });
    var outCol = el("div", "dw-col dw-outcol", layersBox);
    el("div", "dw-col-title", outCol, "output: probability");
    var bars = [];
    for (var d = 0; d < 10; d++) {
      var row = el("div", "dw-row", outCol);
      el("span", "dw-digit", row, String(d));
      var track = el("span", "dw-track", row);
      var bar = el("span", "dw-bar", track);
      var pct = el("span", "dw-pct", row, "");
      bars.push({ bar: bar, pct: pct, row: row });
    }
    el("p", "dw-note", root,
      "Weights from a " + net.recipe + " run at build time (" +
      (100 * net.test_accuracy).toFixed(1) + "% on the 10,000 test images). " +
      "Your drawing is fitted into 20\u00d720 pixels and centred by its centre of mass, as MNIST's digits were.");

    var ctx = pad.getContext("2d");
    var seenCtx = seen.getContext("2d");
    var drawing = false, last = null, pending = false, exampleIndex = 0;

    function showInput(x) {
      var img = seenCtx.createImageData(28, 28);
      for (var i = 0; i < 784; i++) {
        var g = 255 - Math.round(255 * (x ? x[i] : 0));   // ink dark on white, as drawn
        img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
        img.data[4 * i + 3] = 255;
      }
      seenCtx.putImageData(img, 0, 0);
    }

    function show(x) {
      showInput(x);
      if (!x) {
        hidden.forEach(function (cells) { cells.forEach(function (c) { c.style.opacity = 0.08; c.title = ""; }); });
        bars.forEach(function (b) { b.bar.style.width = "0%"; b.pct.textContent = ""; b.row.classList.remove("dw-best"); });
        said.textContent = "Draw a digit in the box.";
        root.dataset.prediction = "";
        return;
      }
      var acts = forward(net, x);
      hidden.forEach(function (cells, n) {
        cells.forEach(function (c, j) {
          var a = acts[n + 1][j];
          c.style.opacity = (0.08 + 0.92 * a).toFixed(3);
          c.title = "activation " + a.toFixed(2);
        });
      });
      var p = softmax(acts[acts.length - 1]);
      var best = p.indexOf(Math.max.apply(null, p));
      bars.forEach(function (b, d) {
        b.bar.style.width = (100 * p[d]).toFixed(1) + "%";
        b.pct.textContent = percent(p[d]);
        b.row.classList.toggle("dw-best", d === best);
      });
      said.textContent = "The network says " + best + " (" + percent(p[best]) + " sure).";
      root.dataset.prediction = String(best);
    }

    function update() {
      pending = false;
      var data = ctx.getImageData(0, 0, SIZE, SIZE).data;
      var ink = new Float32Array(SIZE * SIZE);
      for (var i = 0; i < ink.length; i++) ink[i] = data[4 * i + 3] / 255;   // alpha = ink
      show(toMnist(ink, SIZE));
    }
    function later() { if (!pending) { pending = true; requestAnimationFrame(update); } }

    function point(e) {
      var r = pad.getBoundingClientRect();
      return { x: (e.clientX - r.left) * SIZE / r.width, y: (e.clientY - r.top) * SIZE / r.height };
    }
    function stroke(p) {
      ctx.lineWidth = 22; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#111";
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      ctx.lineTo(p.x + 0.01, p.y);
      ctx.stroke();
      last = p;
      later();
    }
    function down(e) { drawing = true; last = point(e); stroke(last); e.preventDefault(); }
    function move(e) { if (drawing) { stroke(point(e)); e.preventDefault(); } }
    function up() { drawing = false; }

    if (window.PointerEvent) {                  // mouse, touch and pen alike
      pad.addEventListener("pointerdown", function (e) { pad.setPointerCapture && pad.setPointerCapture(e.pointerId); down(e); });
      pad.addEventListener("pointermove", move);
      pad.addEventListener("pointerup", up);
      pad.addEventListener("pointercancel", up);
    } else {                                    // older browsers
      pad.addEventListener("mousedown", down);
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
      var touch = function (f) { return function (e) { if (e.touches.length) f(e.touches[0]); e.preventDefault(); }; };
      pad.addEventListener("touchstart", touch(down), { passive: false });
      pad.addEventListener("touchmove", touch(move), { passive: false });
      pad.addEventListener("touchend", up);
    }
    clear.addEventListener("click", function () { ctx.clearRect(0, 0, SIZE, SIZE); show(null); });
    example.addEventListener("click", function () {
      // Show a real test image (the first one of each digit in turn) on the pad, then classify it.
      var ex = net.examples[exampleIndex++ % net.examples.length];
      ctx.clearRect(0, 0, SIZE, SIZE);
      var img = ctx.createImageData(SIZE, SIZE), k = SIZE / 28;
      for (var y = 0; y < SIZE; y++) for (var x = 0; x < SIZE; x++) {
        var i = 4 * (y * SIZE + x);
        img.data[i] = img.data[i + 1] = img.data[i + 2] = 17;
        img.data[i + 3] = Math.round(255 * ex.pixels[Math.floor(y / k) * 28 + Math.floor(x / k)]);
      }
      ctx.putImageData(img, 0, 0);
      show(ex.pixels);                         // exactly the test image, as the network saw it in testing
    });
    show(null);
    root.classList.add("dw-ready");
  }

  // For readers poking at it from the console (and for the site's browser test).
  window.digitWidget = { forward: forward, softmax: softmax, toMnist: toMnist };

  function start() {
    var net = window.MICROGRAD_PLUS_DIGIT_NET;
    document.querySelectorAll(".digit-widget").forEach(function (root) {
      if (!net) { root.textContent = "The network's weights (digit_weights.js) did not load."; return; }
      build(root, net);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
