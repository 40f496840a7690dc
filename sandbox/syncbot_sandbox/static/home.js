// The app's Home tab in the sandbox page: the sidebar switches between the channel and syncbot's
// Home; opening Home asks the sandbox to send app_home_opened, and the view the app publishes is
// drawn with app.js's Block Kit renderer. Loaded before app.js, whose state and helpers these
// functions use when they run.
"use strict";

// A Slack message link ("…slack.com/archives/C…/p1764240000000100"): Slack's client opens it in place.
const PERMALINK = /^https:\/\/(?:[a-z0-9-]+\.)?slack\.com\/archives\/([A-Z0-9]+)\/p(\d+)(\d{6})(?:[?#]|$)/;

function publishedHome() {
  return ui.snapshot?.views?.[ui.user]?.home || null;
}

function renderHome(force) {
  if (ui.pane !== "home") return;
  const home = publishedHome();
  // Redrawn when the app publishes again (a new hash), not on every poll.
  const sig = JSON.stringify([ui.user, home && home.id, home && home.hash, ui.menu, [...ui.picks]]);
  if (sig === ui.homeSig && !force) return;
  ui.homeSig = sig;
  const body = document.getElementById("home-body");
  const scrolled = body.scrollTop;
  body.replaceChildren(home
    ? h("div", { class: "home-view", "data-view-id": home.id, "data-hash": home.hash }, renderBlocks(home.blocks, { home: home.id, pane: "home" }))
    : h("div", { class: "home-empty" }, "Opening syncbot's Home…"));
  body.scrollTop = scrolled;
}

function showPane(pane) {
  ui.pane = pane;
  ui.menu = null;
  ui.homeSig = "";
  document.getElementById("channel").hidden = pane !== "channel";
  document.getElementById("home").hidden = pane !== "home";
  for (const item of document.querySelectorAll(".nav-item[data-pane]")) item.classList.toggle("active", item.dataset.pane === pane);
  // One "Acting as" menu, in the header of whatever is shown.
  document.querySelector(`#${pane} .header-tools`).append(document.getElementById("switcher"));
  render(true);
  if (pane === "home") {
    document.getElementById("home-body").scrollTop = 0;
    // Slack sends app_home_opened each time someone opens the tab; the app publishes a fresh view.
    post("home", { user: ui.user });
  } else {
    const list = document.getElementById("messages");
    list.scrollTop = list.scrollHeight;
  }
}

function openPermalink(url) {
  // A link to a message of this channel shows it here, as Slack's client does with its own links.
  const match = PERMALINK.exec(url);
  if (!match || match[1] !== ui.config.channel) return false;
  const ts = `${match[2]}.${match[3]}`;
  const channel = (ui.snapshot?.channels || []).find((c) => c.id === match[1]);
  if (!channel || !channel.messages.some((m) => m.ts === ts)) return false;
  showPane("channel");
  const node = document.querySelector(`#messages .msg[data-ts="${ts}"]`);
  if (node) {
    node.scrollIntoView({ block: "start" });
    node.classList.add("flash");
    setTimeout(() => node.classList.remove("flash"), 2000);
  }
  return true;
}

function noteChannel(count) {
  // Bold while away, as Slack marks a channel with something new (e.g. an answer to a Home button).
  if (ui.pane === "channel" || ui.seen === null) ui.seen = count;
  document.getElementById("nav-channel-item").classList.toggle("unread", count > ui.seen);
}

function wireNav() {
  for (const item of document.querySelectorAll(".nav-item[data-pane]")) {
    item.addEventListener("click", () => showPane(item.dataset.pane));
  }
}
