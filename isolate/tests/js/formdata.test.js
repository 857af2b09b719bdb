// FormData (XHR standard) and request/response.formData() for multipart
// and urlencoded bodies (Fetch), with the multipart serialization of a
// FormData body round-tripping through the parser.
import { test, assert, assertEquals, assertThrows, assertRejects, run } from "./harness.js";

const lines = (...l) => l.join("\r\n");
const parse = (body, type = "multipart/form-data; boundary=b") =>
  new Response(body, { headers: { "content-type": type } }).formData();

test("FormData: append/get/getAll/has/set/delete keep order", () => {
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("b", "2");
  fd.append("a", "3");
  assertEquals(fd.get("a"), "1");
  assertEquals(fd.getAll("a"), ["1", "3"]);
  assertEquals([fd.has("b"), fd.has("c"), fd.get("c")], [true, false, null]);
  fd.set("a", "4");
  assertEquals([...fd], [["a", "4"], ["b", "2"]], "set replaces the first and drops the rest");
  fd.set("c", "5");
  fd.delete("b");
  assertEquals([...fd.keys()], ["a", "c"]);
  assertEquals([...fd.values()], ["4", "5"]);
  assertEquals(fd.getAll("nothing"), []);
});

test("FormData: values are converted to USVStrings; names too", () => {
  const fd = new FormData();
  fd.append(1, 2);
  fd.append("o", { toString: () => "obj" });
  fd.append("lone", "\uD800x");
  fd.append(null, undefined);
  assertEquals([...fd], [["1", "2"], ["o", "obj"], ["lone", "\uFFFDx"], ["null", "undefined"]]);
});

test("FormData: Blobs become Files named blob, Files keep or take a name", async () => {
  const fd = new FormData();
  fd.append("blob", new Blob(["b"], { type: "text/x" }));
  fd.append("named", new Blob(["n"]), "n.txt");
  const f = new File(["f"], "orig.bin", { type: "a/b", lastModified: 42 });
  fd.append("file", f);
  fd.append("renamed", f, "new.bin");
  const blob = fd.get("blob");
  assert(blob instanceof File);
  assertEquals([blob.name, blob.type, await blob.text()], ["blob", "text/x", "b"]);
  assertEquals(fd.get("named").name, "n.txt");
  assertEquals(fd.get("file"), f, "a File is kept as it is");
  const renamed = fd.get("renamed");
  assertEquals([renamed.name, renamed.type, renamed.lastModified, await renamed.text()], ["new.bin", "a/b", 42, "f"]);
  assertThrows(() => fd.append("x", "not a blob", "name"), TypeError, "Blob");
  assertThrows(() => fd.set("x", 1, "name"), TypeError, "Blob");
  assertThrows(() => fd.append("only-one"), TypeError);
});

test("FormData: iteration is live, forEach, brand checks", () => {
  const fd = new FormData();
  fd.append("a", "1");
  const it = fd.entries();
  fd.append("b", "2");
  assertEquals([...it], [["a", "1"], ["b", "2"]]);
  const seen = [];
  fd.forEach(function (v, k, obj) {
    seen.push([k, v, obj === fd, this.t]);
  }, { t: "this" });
  assertEquals(seen, [["a", "1", true, "this"], ["b", "2", true, "this"]]);
  assertEquals(Object.prototype.toString.call(fd), "[object FormData]");
  assertEquals(Object.prototype.toString.call(fd.keys()), "[object FormData Iterator]");
  assertThrows(() => FormData.prototype.get.call({}, "a"), TypeError, "Illegal invocation");
  assertThrows(() => new FormData({}), TypeError);
  assertEquals(FormData.prototype[Symbol.iterator], FormData.prototype.entries);
});

test("formData(): a multipart body with fields and files", async () => {
  const fd = await parse(
    lines(
      "--b",
      'Content-Disposition: form-data; name="field"',
      "",
      "line1",
      "line2",
      "--b",
      'Content-Disposition: form-data; name="file"; filename="doc.txt"',
      "Content-Type: text/markdown",
      "",
      "# title",
      "--b",
      'content-disposition: form-data; name="bare"; filename="raw"',
      "",
      "x--b not a boundary",
      "--b",
      'Content-Disposition: form-data; name="é"',
      "",
      "😀",
      "--b--",
      "",
    ),
  );
  assertEquals(fd.get("field"), "line1\r\nline2");
  const file = fd.get("file");
  assert(file instanceof File);
  assertEquals([file.name, file.type, await file.text()], ["doc.txt", "text/markdown", "# title"]);
  assertEquals([fd.get("bare").type, await fd.get("bare").text()], ["text/plain", "x--b not a boundary"]);
  assertEquals(fd.get("é"), "😀");
  assertEquals([...fd.keys()], ["field", "file", "bare", "é"]);
});

test("formData(): quoted boundaries and a body streamed in pieces", async () => {
  const text = lines("--a;b", 'Content-Disposition: form-data; name="k"', "", "v", "--a;b--", "");
  const bytes = new TextEncoder().encode(text);
  const stream = new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += 3) c.enqueue(bytes.slice(i, i + 3));
      c.close();
    },
  });
  const fd = await parse(stream, 'multipart/form-data; charset=utf-8; boundary="a;b"');
  assertEquals([...fd], [["k", "v"]]);
});

test("formData(): malformed multipart bodies are TypeErrors that say why", async () => {
  const cases = [
    [lines("--b", 'Content-Disposition: form-data; name="a"', "", "value"), "closing boundary"],
    [lines("--b", "Content-Type: text/plain", "", "v", "--b--", ""), "name"],
    [lines("--b", "Bad Header Name: x", "", "v", "--b--", ""), "malformed"],
    ["no boundary anywhere", "closing boundary"],
  ];
  for (const [body, why] of cases) await assertRejects(() => parse(body), TypeError, why);
  await assertRejects(() => parse("x", "multipart/form-data"), TypeError, "no boundary");
  await assertRejects(() => parse("x", "text/plain"), TypeError, "cannot parse");
  await assertRejects(() => new Response("x").formData(), TypeError);
});

test("formData(): a malformed stream is cancelled, not read to its end", async () => {
  // An endless body with no boundary: it fails within a bounded prefix.
  let pulls = 0;
  let cancelled = null;
  const endless = new ReadableStream({
    pull(c) {
      pulls++;
      c.enqueue(new TextEncoder().encode("garbage without any boundary line ".repeat(100)));
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  await assertRejects(() => parse(endless), TypeError, "no boundary");
  assert(pulls < 100, `read ${pulls} chunks`);
  assert(cancelled instanceof TypeError, "the stream was cancelled with the error");
  cancelled = null;
  const bad = new ReadableStream({
    pull(c) {
      c.enqueue(new TextEncoder().encode(lines("--b", "Content-Type: x", "", "")));
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  await assertRejects(() => parse(bad), TypeError, "name");
  assert(cancelled instanceof TypeError, "the stream was cancelled with the error");
});

test("formData(): urlencoded bodies", async () => {
  const fd = await new Response("a=1&b=%C3%A9+x&a=2&&c", {
    headers: { "content-type": "application/x-www-form-urlencoded;charset=UTF-8" },
  }).formData();
  assertEquals([...fd], [["a", "1"], ["b", "é x"], ["a", "2"], ["c", ""]]);
  const q = new Request("http://x/", { method: "POST", body: new URLSearchParams({ k: "v w" }) });
  assertEquals([...(await q.formData())], [["k", "v w"]]);
});

test("formData(): a FormData body round-trips (names, files, line breaks)", async () => {
  const fd = new FormData();
  fd.append("text", "a\nb\rc\r\nd");
  fd.append('we"ird\nname', "v");
  fd.append("file", new File([new Uint8Array([0, 1, 2, 255])], 'f"1.bin', { type: "application/x-bin" }));
  fd.append("untyped", new Blob(["u"]));
  const r = new Response(fd);
  const back = await r.clone().formData();
  assertEquals(back.get("text"), "a\r\nb\r\nc\r\nd");
  assertEquals(back.get("we%22ird%0Aname"), "v", "the serializer escapes names");
  const f = back.get("file");
  assertEquals([f.name, f.type], ["f%221.bin", "application/x-bin"]);
  assertEquals(new Uint8Array(await f.arrayBuffer()), new Uint8Array([0, 1, 2, 255]));
  assertEquals(back.get("untyped").type, "application/octet-stream");
  const raw = await r.text();
  const boundary = r.headers.get("content-type").split("boundary=")[1];
  assert(raw.startsWith(`--${boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\n`), raw.slice(0, 120));
  assert(raw.endsWith(`--${boundary}--\r\n`));
});

test("formData(): a used body rejects; the body is used after", async () => {
  const r = new Response("a=1", { headers: { "content-type": "application/x-www-form-urlencoded" } });
  await r.formData();
  assert(r.bodyUsed);
  await assertRejects(() => r.formData(), TypeError, "already been used");
  const m = new Response(lines("--b", 'Content-Disposition: form-data; name="a"', "", "1", "--b--", ""), {
    headers: { "content-type": "multipart/form-data; boundary=b" },
  });
  await m.formData();
  assert(m.bodyUsed && m.body.locked);
});

export default { fetch: run };
