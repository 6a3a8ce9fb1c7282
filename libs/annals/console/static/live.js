// The live log: subscribe to the page's Server-Sent Events and add a row per record, newest first.
(function () {
  const table = document.getElementById("live");
  const status = document.getElementById("live-status");
  const body = table.querySelector("tbody");
  const limit = 500;
  function cell(row, text) { const td = row.insertCell(); td.textContent = text; return td; }
  function link(row, stream, version) {
    const td = row.insertCell();
    if (!stream) return;
    const a = document.createElement("a");
    a.href = "/streams/" + encodeURIComponent(stream) + (version ? "#v" + version : "");
    a.textContent = stream + (version ? "@" + version : "");
    td.appendChild(a);
  }
  const source = new EventSource(table.dataset.source);
  source.onopen = function () { status.textContent = "following"; };
  source.onerror = function () { status.textContent = "disconnected, retrying…"; };
  source.addEventListener("trouble", function (e) { status.textContent = JSON.parse(e.data); });
  source.onmessage = function (e) {
    const item = JSON.parse(e.data);
    const row = body.insertRow(0);
    row.className = "entry";
    row.dataset.type = item.type;
    cell(row, item.time);
    cell(row, item.where);
    cell(row, item.type);
    link(row, item.stream, item.version);
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(item.data);
    row.insertCell().appendChild(pre);
    while (body.rows.length > limit) body.deleteRow(body.rows.length - 1);
  };
})();
