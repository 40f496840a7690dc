// The sandbox page: draws the workspace snapshot like a Slack channel and turns what you do into
// calls to /_sandbox/ui/*, which the sandbox sends to the app as signed Slack requests.
// All text goes through textContent / text nodes: message content is never parsed as HTML.
"use strict";

const POLL_MS = 1000;
const ENTITIES = { "&lt;": "<", "&gt;": ">", "&amp;": "&" };
const EMOJI = {
  warning: "⚠️", white_check_mark: "✅", x: "❌", hourglass_flowing_sand: "⏳", information_source: "ℹ️",
  arrows_counterclockwise: "🔄", mag: "🔍", rotating_light: "🚨", no_entry: "⛔", tada: "🎉",
  heavy_check_mark: "✔️", red_circle: "🔴", large_green_circle: "🟢", large_yellow_circle: "🟡",
};
const SAFE_URL = /^(https?:|mailto:)/i;

const ui = {
  config: null, // {channel, people}
  snapshot: null,
  raw: "",
  user: null,
  thread: null, // ts of the open thread
  dismissed: new Set(), // ephemerals the user dismissed (ts)
  picks: new Map(), // multi-select key -> [values], as Slack's client keeps them locally
  menu: null, // key of the open select/overflow menu
  menuUp: false, // open it upwards: its button sits low in the window
  followUntil: 0, // after sending a command, follow the channel to its answer
  viewErrors: {}, // block_id -> message, for the open modal
  nodes: new Map(), // message key -> {sig, node}: unchanged messages are not redrawn
  modalSig: "",
  pane: "channel", // "channel" or "home" (the app's Home tab)
  homeSig: "",
  seen: null, // how many channel messages the user had when they last looked at the channel
};

// -- small DOM helpers ------------------------------------------------------------------------

function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function decode(text) {
  // One pass, so "&amp;lt;" shows as "&lt;" as in Slack.
  return String(text).replace(/&(lt|gt|amp);/g, (m) => ENTITIES[m]);
}

function emoji(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
}

function userName(id) {
  const user = (ui.snapshot?.users || []).find((u) => u.id === id);
  return user ? user.profile?.display_name || user.name : id;
}

function realName(id) {
  const user = (ui.snapshot?.users || []).find((u) => u.id === id);
  return user ? user.real_name || user.name : id;
}

function channelName(id) {
  const channel = (ui.snapshot?.channels || []).find((c) => c.id === id);
  return channel ? channel.name : id;
}

function toast(text) {
  const node = document.getElementById("toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 5000);
}

// -- mrkdwn -----------------------------------------------------------------------------------

// code | <token> | *bold* | _italic_ | ~strike~ (markers need a non-word character outside)
const INLINE = new RegExp(
  [
    "`([^`\\n]+)`",
    "<([^<>\\n]+)>",
    "(?<![\\w*])\\*(?!\\s)([^*\\n]+?)(?<!\\s)\\*(?![\\w*])",
    "(?<![\\w_])_(?!\\s)([^_\\n]+?)(?<!\\s)_(?![\\w_])",
    "(?<![\\w~])~(?!\\s)([^~\\n]+?)(?<!\\s)~(?![\\w~])",
  ].join("|"),
  "g",
);

function plainNode(text) {
  return document.createTextNode(emoji(decode(text)));
}

function mrkdwn(text) {
  const frag = document.createDocumentFragment();
  const parts = String(text).split("```");
  parts.forEach((part, i) => {
    const isBlock = i % 2 === 1 && i < parts.length - 1;
    if (isBlock) frag.append(h("pre", { class: "pre" }, decode(part.replace(/^\n/, ""))));
    else frag.append(inline(i % 2 === 1 ? "```" + part : part));
  });
  return frag;
}

function inline(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) frag.append(plainNode(text.slice(last, m.index)));
    if (m[1] !== undefined) frag.append(h("code", {}, decode(m[1])));
    else if (m[2] !== undefined) frag.append(token(m[2]));
    else if (m[3] !== undefined) frag.append(h("strong", {}, inline(m[3])));
    else if (m[4] !== undefined) frag.append(h("em", {}, inline(m[4])));
    else frag.append(h("s", {}, inline(m[5])));
    last = m.index + m[0].length;
  }
  if (last < text.length) frag.append(plainNode(text.slice(last)));
  return frag;
}

function token(inner) {
  const bar = inner.indexOf("|");
  const target = bar < 0 ? inner : inner.slice(0, bar);
  const label = bar < 0 ? "" : inner.slice(bar + 1);
  if (target.startsWith("@")) {
    const id = target.slice(1);
    const mine = id === ui.user ? " me" : "";
    return h("span", { class: "mention" + mine }, "@" + (label || userName(id)));
  }
  if (target.startsWith("#")) return h("span", { class: "mention" }, "#" + (label || channelName(target.slice(1))));
  if (target.startsWith("!")) {
    const command = target.slice(1);
    if (command.startsWith("date^")) return plainNode(label || command.split("^")[1] || "");
    if (command.startsWith("subteam^")) return h("span", { class: "mention" }, "@" + (label.replace(/^@/, "") || command.slice(8)));
    if (["here", "channel", "everyone"].includes(command)) return h("span", { class: "mention broadcast" }, "@" + command);
    return plainNode(label || command);
  }
  const url = decode(target);
  if (!SAFE_URL.test(url)) return plainNode(label || target);
  return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, label ? plainNode(label) : url);
}

function textObject(obj) {
  if (!obj) return document.createDocumentFragment();
  if (obj.type === "mrkdwn") return mrkdwn(obj.text || "");
  const text = decode(obj.text || "");
  return document.createTextNode(obj.emoji === false ? text : emoji(text));
}

function plainOf(obj) {
  return obj ? decode(obj.text || "") : "";
}

// -- Block Kit --------------------------------------------------------------------------------

function renderBlocks(blocks, ctx) {
  return h("div", { class: "blocks" }, (blocks || []).map((block) => renderBlock(block, ctx)));
}

function renderBlock(block, ctx) {
  const id = block.block_id;
  switch (block.type) {
    case "header":
      return h("div", { class: "bk-header" }, textObject(block.text));
    case "section": {
      const main = h("div", { class: "bk-section-main" });
      if (block.text) main.append(h("div", { class: "bk-text" }, textObject(block.text)));
      if (block.fields) main.append(h("div", { class: "bk-fields" }, block.fields.map((f) => h("div", { class: "bk-field" }, textObject(f)))));
      const accessory = block.accessory ? h("div", { class: "bk-accessory" }, renderElement(block.accessory, ctx, id)) : null;
      return h("div", { class: "bk-section" }, main, accessory);
    }
    case "context":
      return h("div", { class: "bk-context" }, (block.elements || []).map((el) =>
        el.type === "image" ? contextImage(el) : h("span", { class: "bk-context-item" }, textObject(el))));
    case "divider":
      return h("hr", { class: "bk-divider" });
    case "actions":
      return h("div", { class: "bk-actions" }, (block.elements || []).map((el) => renderElement(el, ctx, id)));
    case "image":
      return h("figure", { class: "bk-image" }, block.title ? h("figcaption", {}, textObject(block.title)) : null, safeImage(block.image_url, block.alt_text));
    case "input": {
      const control = renderElement(block.element, { ...ctx, input: true }, id);
      const target = control.matches("input, textarea, select") ? control : control.querySelector("button, input, select");
      if (target) target.id = `input-${id}`;
      return h("div", { class: "bk-input", "data-block-id": id },
        h("label", { class: "bk-label", for: `input-${id}` }, plainOf(block.label), block.optional ? h("span", { class: "optional" }, " (optional)") : null),
        control,
        block.hint ? h("div", { class: "bk-hint" }, plainOf(block.hint)) : null,
        ui.viewErrors[id] ? h("div", { class: "bk-error" }, ui.viewErrors[id]) : null);
    }
    case "rich_text":
      return h("div", { class: "bk-text" }, richText(block.elements || []));
    case "markdown":
      return h("div", { class: "bk-text" }, block.text || "");
    default:
      return h("div", { class: "bk-unknown" }, `[${block.type} block]`);
  }
}

function safeImage(url, alt) {
  return SAFE_URL.test(url || "") ? h("img", { src: url, alt: alt || "" }) : h("span", {}, alt || "");
}

function contextImage(el) {
  return h("span", { class: "bk-context-item" }, safeImage(el.image_url, el.alt_text));
}

function richText(elements) {
  return elements.map((el) => {
    const leaves = (el.elements || []).map((leaf) => {
      if (leaf.type === "text") {
        const style = leaf.style || {};
        let node = document.createTextNode(leaf.text || "");
        for (const [flag, tag] of [["code", "code"], ["bold", "strong"], ["italic", "em"], ["strike", "s"]]) {
          if (style[flag]) node = h(tag, {}, node);
        }
        return node;
      }
      if (leaf.type === "link") return SAFE_URL.test(leaf.url || "") ? h("a", { href: leaf.url, target: "_blank", rel: "noopener noreferrer" }, leaf.text || leaf.url) : leaf.text || "";
      if (leaf.type === "user") return h("span", { class: "mention" }, "@" + userName(leaf.user_id));
      if (leaf.type === "emoji") return EMOJI[leaf.name] || `:${leaf.name}:`;
      return leaf.text || "";
    });
    if (el.type === "rich_text_preformatted") return h("pre", { class: "pre" }, leaves);
    if (el.type === "rich_text_quote") return h("blockquote", {}, leaves);
    if (el.type === "rich_text_list") return h("ul", {}, (el.elements || []).map((item) => h("li", {}, richText([item]))));
    return h("div", {}, leaves);
  });
}

function renderElement(el, ctx, blockId) {
  switch (el.type) {
    case "button":
      return button(el, ctx, blockId);
    case "static_select":
      return staticSelect(el, ctx, blockId);
    case "multi_static_select":
      return multiSelect(el, ctx, blockId);
    case "overflow":
      return overflow(el, ctx, blockId);
    case "plain_text_input": {
      const attrs = { class: "bk-field-input", "data-action-id": el.action_id, "data-kind": "plain_text_input", placeholder: plainOf(el.placeholder) };
      const node = el.multiline ? h("textarea", attrs) : h("input", attrs);
      node.value = el.initial_value || "";
      return node;
    }
    case "image":
      return h("span", { class: "bk-accessory-image" }, safeImage(el.image_url, el.alt_text));
    default:
      return h("span", { class: "bk-unknown" }, `[${el.type}]`);
  }
}

function button(el, ctx) {
  const style = el.style ? ` ${el.style}` : "";
  const label = textObject(el.text);
  const press = async (event) => {
    event.preventDefault();
    if (el.confirm && !(await confirmDialog(el.confirm))) return;
    if (el.url && !openPermalink(el.url) && SAFE_URL.test(el.url)) window.open(el.url, "_blank", "noopener");
    await act(ctx, el.action_id, el.value);
  };
  return h("button", { type: "button", class: "bk-btn" + style, "data-action-id": el.action_id, "aria-label": el.accessibility_label, onclick: press }, label);
}

function options(el) {
  return [...(el.options || []), ...(el.option_groups || []).flatMap((g) => g.options || [])];
}

function staticSelect(el, ctx) {
  const select = h("select", { class: "bk-select", "data-action-id": el.action_id, "data-kind": "static_select" },
    h("option", { value: "" }, plainOf(el.placeholder) || "Select an item"),
    options(el).map((o) => h("option", { value: o.value }, plainOf(o.text))));
  if (el.initial_option) select.value = el.initial_option.value;
  select.optionsByValue = Object.fromEntries(options(el).map((o) => [o.value, o]));
  if (!ctx.input) {
    select.addEventListener("change", async () => {
      if (!select.value) return;
      if (el.confirm && !(await confirmDialog(el.confirm))) return;
      await post("choose", { ...where(ctx), action_id: el.action_id, value: select.value });
    });
  }
  return select;
}

function toggleMenu(key, event) {
  ui.menu = ui.menu === key ? null : key;
  ui.menuUp = event.currentTarget.getBoundingClientRect().top > window.innerHeight / 2;
  render(true);
}

function menuKey(ctx, el, blockId) {
  const at = ctx.view ? `view:${ctx.view}` : ctx.home ? `home:${ctx.home}` : `${ctx.channel}:${ctx.ts}`;
  return `${ui.user}|${at}|${blockId}|${el.action_id}`;
}

function multiSelect(el, ctx, blockId) {
  const key = menuKey(ctx, el, blockId);
  const open = `${ctx.pane}|${key}`; // the same message may show in the channel and in its thread
  const all = options(el);
  const known = new Set(all.map((o) => o.value));
  const picked = (ui.picks.get(key) || []).filter((v) => known.has(v));
  const chips = picked.map((v) => h("span", { class: "chip" }, plainOf(all.find((o) => o.value === v).text)));
  const toggle = h("button", {
    type: "button", class: "ms-toggle", "aria-haspopup": "listbox", "aria-expanded": String(ui.menu === open),
    onclick: (event) => toggleMenu(open, event),
  }, chips.length ? chips : h("span", { class: "placeholder" }, plainOf(el.placeholder) || "Select items"), h("span", { class: "caret" }, "▾"));
  const wrap = h("div", { class: "ms", "data-action-id": el.action_id, "data-kind": "multi_static_select", "data-key": key }, toggle);
  wrap.optionsByValue = Object.fromEntries(all.map((o) => [o.value, o]));
  if (ui.menu === open) {
    const change = async (value, on) => {
      const next = all.map((o) => o.value).filter((v) => (v === value ? on : picked.includes(v)));
      ui.picks.set(key, next);
      render(true);
      if (!ctx.input) await post("select", { ...where(ctx), action_id: el.action_id, values: next });
    };
    wrap.append(h("div", { class: "menu" + (ui.menuUp ? " up" : ""), role: "listbox", "aria-multiselectable": "true" }, all.map((o) => {
      const box = h("input", { type: "checkbox", value: o.value, onchange: (e) => change(o.value, e.target.checked) });
      box.checked = picked.includes(o.value);
      return h("label", { class: "menu-item", role: "option" }, box, h("span", {}, plainOf(o.text)));
    })));
  }
  return wrap;
}

function overflow(el, ctx, blockId) {
  const key = `${ctx.pane}|${menuKey(ctx, el, blockId)}|overflow`;
  const wrap = h("div", { class: "overflow", "data-key": key },
    h("button", { type: "button", class: "bk-btn overflow-btn", "aria-label": "More actions", onclick: (event) => toggleMenu(key, event) }, "⋯"));
  if (ui.menu === key) {
    wrap.append(h("div", { class: "menu right" + (ui.menuUp ? " up" : ""), role: "menu" }, options(el).map((o) =>
      h("button", {
        type: "button", class: "menu-item", role: "menuitem",
        onclick: async () => {
          ui.menu = null;
          render(true);
          if (el.confirm && !(await confirmDialog(el.confirm))) return;
          if (o.url && SAFE_URL.test(o.url)) window.open(o.url, "_blank", "noopener");
          await post("choose", { ...where(ctx), action_id: el.action_id, value: o.value });
        },
      }, plainOf(o.text)))));
  }
  return wrap;
}

// -- confirm dialogs and modals ---------------------------------------------------------------

function confirmDialog(confirm) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = plainOf(confirm.title) || "Are you sure?";
  document.getElementById("confirm-text").replaceChildren(textObject(confirm.text));
  const ok = document.getElementById("confirm-ok");
  const deny = document.getElementById("confirm-deny");
  ok.textContent = plainOf(confirm.confirm) || "Yes";
  ok.className = "bk-btn " + (confirm.style === "danger" ? "danger" : "primary");
  deny.textContent = plainOf(confirm.deny) || "Cancel";
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.onclick = deny.onclick = dialog.oncancel = null;
      dialog.close();
      resolve(answer);
    };
    ok.onclick = () => done(true);
    deny.onclick = () => done(false);
    dialog.oncancel = () => done(false);
    dialog.showModal();
  });
}

function openModal() {
  const views = ui.snapshot?.views?.[ui.user];
  const stack = views ? views.modals : [];
  return stack.length ? stack[stack.length - 1] : null;
}

function inputValues(root) {
  const values = {};
  for (const block of root.querySelectorAll(".bk-input[data-block-id]")) {
    const control = block.querySelector("[data-action-id]");
    if (!control) continue;
    const kind = control.dataset.kind;
    let state;
    if (kind === "plain_text_input") state = { type: kind, value: control.value || null };
    // Slack's view.state carries the whole option objects.
    else if (kind === "static_select") state = { type: kind, selected_option: control.optionsByValue[control.value] || null };
    else if (kind === "multi_static_select") state = { type: kind, selected_options: (ui.picks.get(control.dataset.key) || []).map((v) => control.optionsByValue[v]).filter(Boolean) };
    else continue;
    values[block.dataset.blockId] = { [control.dataset.actionId]: state };
  }
  return values;
}

function renderModal() {
  const root = document.getElementById("modal-root");
  const view = openModal();
  const sig = view ? JSON.stringify([ui.user, view.id, view.hash, ui.viewErrors, ui.menu, [...ui.picks]]) : "";
  if (sig === ui.modalSig) return;
  ui.modalSig = sig;
  if (!view) {
    root.replaceChildren();
    return;
  }
  const ctx = { view: view.id, pane: "modal" };
  const close = async () => { ui.viewErrors = {}; await post("close", { user: ui.user }); };
  const submit = async () => {
    const answer = await post("submit", { user: ui.user, values: inputValues(root) });
    ui.viewErrors = answer && answer.errors ? answer.errors : {};
    render(true);
  };
  const modal = h("div", { class: "modal", role: "dialog", "aria-modal": "true", "aria-label": plainOf(view.title) },
    h("header", { class: "modal-header" },
      h("h2", {}, plainOf(view.title)),
      h("button", { type: "button", class: "icon-btn", "aria-label": "Close", onclick: close }, "×")),
    h("div", { class: "modal-body" }, renderBlocks(view.blocks, ctx)),
    h("footer", { class: "modal-footer" },
      h("button", { type: "button", class: "bk-btn", onclick: close }, plainOf(view.close) || "Cancel"),
      view.submit ? h("button", { type: "button", class: "bk-btn primary", onclick: submit }, plainOf(view.submit)) : null));
  root.replaceChildren(h("div", { class: "backdrop" }, modal));
}

// -- actions ----------------------------------------------------------------------------------

function where(ctx) {
  return ctx.view || ctx.home ? { user: ui.user } : { user: ui.user, channel: ctx.channel, ts: ctx.ts };
}

async function act(ctx, actionId, value) {
  if (ctx.home) return post("home_click", { user: ui.user, action_id: actionId, value });
  if (ctx.view) {
    const root = document.getElementById("modal-root");
    return post("view_click", { user: ui.user, action_id: actionId, value, values: inputValues(root) });
  }
  return post("click", { ...where(ctx), action_id: actionId, value });
}

let queue = Promise.resolve(null);

function post(name, body) {
  // One action at a time, in order: a click must reach the app after the selection made before it.
  const next = queue.then(() => send(name, body));
  queue = next.catch(() => null);
  return next;
}

async function send(name, body) {
  let answer = null;
  try {
    const response = await fetch(`/_sandbox/ui/${name}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    answer = await response.json();
    if (!answer.ok) toast(answer.error || `The app answered HTTP ${answer.status}.`);
  } catch (error) {
    toast(`The sandbox did not answer: ${error}`);
  }
  // The app acks first and works afterwards: look again soon, and once more a moment later.
  refresh();
  setTimeout(refresh, 300);
  return answer;
}

// -- messages ---------------------------------------------------------------------------------

function time(ts) {
  return new Date(Number(ts) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function initials(name) {
  return (name || "?").slice(0, 1).toUpperCase();
}

function renderMessage(msg, { channel, inThread }) {
  const ephemeral = msg.subtype === "ephemeral";
  const isBot = Boolean(msg.bot_id);
  const name = isBot ? "syncbot" : realName(msg.user);
  const ctx = { channel, ts: msg.ts, pane: inThread ? "thread" : "channel" };
  const body = h("div", { class: "msg-body" },
    h("div", { class: "msg-meta" },
      h("span", { class: "msg-name" }, name),
      isBot ? h("span", { class: "badge" }, "APP") : null,
      h("span", { class: "msg-time", title: msg.ts }, time(msg.ts)),
      msg.edited ? h("span", { class: "edited" }, "(edited)") : null),
    msg.blocks && msg.blocks.length ? renderBlocks(msg.blocks, ctx) : h("div", { class: "bk-text" }, mrkdwn(msg.text || "")));
  if (ephemeral) {
    body.append(h("div", { class: "eph-note" }, "Only visible to you · ",
      h("button", { type: "button", class: "link", onclick: () => { ui.dismissed.add(msg.ts); render(true); } }, "Dismiss")));
  }
  const count = (msg.replies || []).length;
  if (count && !inThread) {
    body.append(h("button", { type: "button", class: "replies", onclick: () => openThread(msg.ts) },
      `${count} ${count === 1 ? "reply" : "replies"}`));
  }
  return h("div", { class: "msg" + (ephemeral ? " ephemeral" : ""), "data-ts": msg.ts },
    h("div", { class: "avatar" + (isBot ? " bot" : "") }, isBot ? "S" : initials(name)), body);
}

function openThread(ts) {
  ui.thread = ts;
  render(true);
  const body = document.getElementById("thread-body");
  body.scrollTop = body.scrollHeight; // the latest reply, as Slack opens a thread
}

function keyed(container, items) {
  // Redraw only what changed, so open menus, focus and scroll position survive each poll.
  const seen = new Set();
  const nodes = items.map(({ key, sig, draw }) => {
    seen.add(key);
    const cached = ui.nodes.get(key);
    if (cached && cached.sig === sig) return cached.node;
    const node = draw();
    ui.nodes.set(key, { sig, node });
    return node;
  });
  for (const key of [...ui.nodes.keys()]) if (key.startsWith(container.id + ":") && !seen.has(key)) ui.nodes.delete(key);
  const current = [...container.children];
  if (current.length !== nodes.length || current.some((node, i) => node !== nodes[i])) container.replaceChildren(...nodes);
}

function messageItem(prefix, msg, opts) {
  const local = [ui.user, ui.menu, ui.thread, [...ui.picks].filter(([k]) => k.includes(msg.ts))];
  return { key: `${prefix}:${msg.ts}`, sig: JSON.stringify([msg, local]), draw: () => renderMessage(msg, opts) };
}

function follow(list, always, draw) {
  // Follow new messages when at the bottom, as Slack does; otherwise stay where the reader is.
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const scrolled = list.scrollTop;
  draw();
  list.scrollTop = atBottom || always ? list.scrollHeight : scrolled;
}

function render(force) {
  const snapshot = ui.snapshot;
  if (!snapshot || !ui.config) return;
  if (force) ui.nodes.clear();
  const channelId = ui.config.channel;
  const channel = snapshot.channels.find((c) => c.id === channelId) || { name: channelId, messages: [] };
  document.getElementById("channel-name").textContent = channel.name;
  document.getElementById("nav-channel").textContent = channel.name;
  document.getElementById("team-name").textContent = snapshot.team.name;

  const mine = snapshot.ephemerals.filter((e) => e.user === ui.user && e.channel === channelId && !ui.dismissed.has(e.ts));
  const top = [...channel.messages, ...mine.filter((e) => !e.thread_ts)].sort((a, b) => Number(a.ts) - Number(b.ts));
  const list = document.getElementById("messages");
  follow(list, Date.now() < ui.followUntil, () => keyed(list, top.map((m) => messageItem("messages", m, { channel: channelId }))));
  noteChannel(top.length);

  const pane = document.getElementById("thread");
  const parent = ui.pane === "channel" ? channel.messages.find((m) => m.ts === ui.thread) : null;
  pane.hidden = !parent;
  if (parent) {
    const replies = [...(parent.replies || []), ...mine.filter((e) => e.thread_ts === parent.ts)].sort((a, b) => Number(a.ts) - Number(b.ts));
    const items = [parent, ...replies].map((m) => messageItem("thread-body", m, { channel: channelId, inThread: true }));
    const body = document.getElementById("thread-body");
    follow(body, false, () => keyed(body, items));
  }
  renderHome(force);
  renderModal();
}

// -- polling and start-up ---------------------------------------------------------------------

async function refresh() {
  try {
    const response = await fetch("/_sandbox/state", { cache: "no-store" });
    const raw = await response.text();
    document.getElementById("offline").hidden = true;
    if (raw === ui.raw) return;
    ui.raw = raw;
    ui.snapshot = JSON.parse(raw);
    render(false);
  } catch (error) {
    document.getElementById("offline").hidden = false;
  }
}

async function start() {
  ui.config = await (await fetch("/_sandbox/ui/config", { cache: "no-store" })).json();
  const switcher = document.getElementById("user-switcher");
  switcher.replaceChildren(...ui.config.people.map((p) =>
    h("option", { value: p.id }, p.note ? `${p.real_name} (${p.note})` : p.real_name)));
  const remembered = localStorage.getItem("sandbox-user");
  ui.user = ui.config.people.some((p) => p.id === remembered) ? remembered : ui.config.people[0]?.id;
  switcher.value = ui.user;
  switcher.addEventListener("change", () => {
    ui.user = switcher.value;
    localStorage.setItem("sandbox-user", ui.user);
    ui.menu = null;
    ui.viewErrors = {};
    ui.seen = null;
    render(true);
    if (ui.pane === "home") post("home", { user: ui.user }); // someone else opens their Home
  });
  wireNav();
  document.getElementById("thread-close").addEventListener("click", () => { ui.thread = null; render(true); });
  document.getElementById("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("composer-input");
    const text = input.value.trim();
    if (!text) return;
    if (!text.startsWith("/")) {
      toast("This sandbox sends slash commands only: try /failed-syncs or /failed-syncs help");
      return;
    }
    input.value = "";
    ui.followUntil = Date.now() + 5000;
    await post("command", { user: ui.user, channel: ui.config.channel, text });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || document.getElementById("confirm").open) return;
    if (ui.menu) {
      ui.menu = null;
      render(true);
    } else if (openModal()) {
      post("close", { user: ui.user });
    }
  });
  document.addEventListener("click", (event) => {
    // A click outside an open menu closes it, as in Slack.
    if (ui.menu && !event.target.closest(".ms, .overflow")) {
      ui.menu = null;
      render(true);
    }
  });
  await refresh();
  setInterval(refresh, POLL_MS);
}

start();
