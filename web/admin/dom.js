// Building the page: elements whose text is set as text (nothing from the API is written as HTML), and formats.
const SVG = "http://www.w3.org/2000/svg";

export function byId(id) {
  return document.getElementById(id);
}

export function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) {
    node.textContent = String(text);
  }
  if (className) {
    node.className = className;
  }
  return node;
}

export function cell(row, text, className) {
  const node = element("td", text, className);
  row.appendChild(node);
  return node;
}

export function svgNode(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  Object.keys(attributes).forEach((name) => node.setAttribute(name, String(attributes[name])));
  if (text !== undefined) {
    node.textContent = String(text);
  }
  return node;
}

/** Show an outcome in a status line: kind is "success", "error" or nothing. */
export function say(node, text, kind) {
  node.textContent = text;
  node.className = "admin-result" + (kind ? " " + kind : "");
}

export function percent(value) {
  return value === null || value === undefined ? "–" : (value * 100).toFixed(1) + "%";
}

export function when(seconds) {
  if (seconds === null || seconds === undefined) {
    return "–";
  }
  return new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function count(number, noun) {
  return number + " " + noun + (number === 1 ? "" : "s");
}
