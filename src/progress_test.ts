import assert from "node:assert/strict";
import {
  PlainRenderer,
  ProgressModel,
  renderFrame,
  renderHeartbeat,
  TtyRenderer,
} from "./progress.ts";
import { formatBytes, formatDuration, formatRate } from "./format.ts";

function clock(start = 0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => now += ms };
}

Deno.test("formatBytes() uses binary units with one decimal below ten", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(400 * 1024 * 1024), "400 MiB");
  assert.equal(formatBytes(4 * 1024 ** 3), "4.0 GiB");
});

Deno.test("formatDuration() goes from tenths of seconds to hours", () => {
  assert.equal(formatDuration(1.25), "1.3s");
  assert.equal(formatDuration(42), "42s");
  assert.equal(formatDuration(95), "1m35s");
  assert.equal(formatDuration(7_300), "2h01m");
  assert.equal(formatDuration(Infinity), "?");
});

Deno.test("formatRate() shows an unknown rate as dashes", () => {
  assert.equal(formatRate(undefined), "-- B/s");
  assert.equal(formatRate(2 * 1024 * 1024), "2.0 MiB/s");
});

Deno.test("ProgressModel totals count finished files whole and active ones by position", () => {
  const time = clock();
  const model = new ProgressModel(time.now);
  const a = model.add("a", 1000);
  const b = model.add("b", 3000);
  model.add("c", 6000);
  model.setState(a, "done");
  model.setState(b, "downloading");
  model.setPosition(b, 1000);
  const totals = model.totals();
  assert.equal(totals.files, 3);
  assert.equal(totals.done, 1);
  assert.equal(totals.active, 1);
  assert.equal(totals.bytes, 2000);
  assert.equal(totals.totalBytes, 10_000);
});

Deno.test("ProgressModel measures the rate over recent samples and derives an ETA", () => {
  const time = clock();
  const model = new ProgressModel(time.now);
  const file = model.add("big", 10_000_000);
  model.setState(file, "downloading");
  model.sample();
  for (let second = 0; second < 3; second++) {
    time.advance(1000);
    model.received(file, 1_000_000);
    model.setPosition(file, file.received);
    model.sample();
  }
  const totals = model.totals();
  assert.equal(totals.rate, 1_000_000);
  assert.equal(totals.etaSeconds, 7);
  assert.equal(file.meter.rate(), 1_000_000);
});

Deno.test("renderFrame() has a line per active file and a total, none wider than the terminal", () => {
  const model = new ProgressModel(clock().now);
  const file = model.add("a-very-long-file-name-that-goes-on-and-on.tar.xz", 5_000_000);
  model.add("queued.bin", 10);
  model.setState(file, "downloading");
  model.setPosition(file, 2_500_000);
  const lines = renderFrame(model, 40);
  assert.equal(lines.length, 2);
  assert.ok(lines.every((line) => line.length <= 39), JSON.stringify(lines));
  const wide = renderFrame(model, 200);
  assert.match(wide[0] ?? "", /a-very-long.*: 2\.4 MiB of 4\.8 MiB \(50%\)/);
  assert.match(wide[1] ?? "", /^0\/2 files, 2\.4 MiB of 4\.8 MiB \(49%\)/);
});

Deno.test("renderHeartbeat() names each file in flight and what it is doing", () => {
  const model = new ProgressModel(clock().now);
  const a = model.add("a.bin", 100);
  const b = model.add("b.bin", 100);
  model.setState(a, "downloading");
  model.setState(b, "waiting");
  const line = renderHeartbeat(model);
  assert.match(line, /^Progress: 0\/2 files/);
  assert.match(line, /a\.bin: 0 B of 100 B \(0%\)/);
  assert.match(line, /b\.bin: waiting for another process to download it/);
});

Deno.test("PlainRenderer prints a heartbeat only while something is in flight", async () => {
  const model = new ProgressModel();
  const written: string[] = [];
  const renderer = new PlainRenderer({
    model,
    write: (text) => written.push(text),
    intervalMs: 20,
  });
  renderer.start();
  await new Promise((resolve) => setTimeout(resolve, 70));
  assert.equal(written.length, 0);
  const file = model.add("a.bin", 100);
  model.setState(file, "downloading");
  // As the fetch does after each change of state.
  renderer.refresh();
  await new Promise((resolve) => setTimeout(resolve, 70));
  renderer.stop();
  assert.ok(written.length >= 2);
  assert.ok(written.every((line) => line.startsWith("Progress: ") && line.endsWith("\n")));
});

Deno.test("PlainRenderer beats through the slow check of a small present file", async () => {
  const model = new ProgressModel();
  const beats: string[] = [];
  const renderer = new PlainRenderer({ model, write: (text) => beats.push(text), intervalMs: 10 });
  renderer.start();
  // A 1 MiB file on a slow disk: checked for seconds, with no refresh in between.
  model.setState(model.add("slow.bin", 1024 * 1024), "checking");
  await new Promise((resolve) => setTimeout(resolve, 60));
  renderer.stop();
  assert.ok(beats.length >= 1, "a heartbeat while the check runs");
  const seen = beats.length;
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.equal(beats.length, seen, "none after stop");
});

Deno.test("PlainRenderer with a period of 0 still beats", async () => {
  const model = new ProgressModel();
  const beats: string[] = [];
  const renderer = new PlainRenderer({ model, write: (text) => beats.push(text), intervalMs: 0 });
  model.setState(model.add("a.bin", 100), "downloading");
  renderer.start();
  await new Promise((resolve) => setTimeout(resolve, 30));
  renderer.stop();
  assert.ok(beats.length >= 1);
});

Deno.test("TtyRenderer erases its block before printing a message, then redraws", () => {
  const model = new ProgressModel();
  const file = model.add("a.bin", 100);
  model.setState(file, "downloading");
  let screen = "";
  const renderer = new TtyRenderer({ model, write: (text) => screen += text, columns: () => 80 });
  renderer.start();
  renderer.refresh();
  renderer.print(() => screen += "message\n");
  renderer.stop();
  // Two lines drawn (file + total), erased before the message, drawn again, erased at stop.
  assert.equal(screen.split("\x1b[2F\x1b[J").length - 1, 2);
  assert.ok(screen.includes("\x1b[2F\x1b[Jmessage\n  a.bin:"));
});

Deno.test("renderFrame() and renderHeartbeat() escape control characters in file names", () => {
  const model = new ProgressModel(clock().now);
  const file = model.add("a\x1b]0;pwned\x07\r\nerror: fake\u202e.bin", 100);
  model.setState(file, "downloading");
  const escaped = String.raw`a\x1b]0;pwned\x07\r\nerror: fake\u202e.bin`;
  const frame = renderFrame(model, 200);
  assert.equal(frame[0], `  ${escaped}: 0 B of 100 B (0%), -- B/s`);
  assert.ok(renderHeartbeat(model).includes(`— ${escaped}: 0 B of 100 B`));
});

Deno.test("TtyRenderer keeps its own cursor codes while escaping the names it draws", () => {
  const model = new ProgressModel();
  const file = model.add("x\x1b[2Jy", 100);
  model.setState(file, "downloading");
  let screen = "";
  const renderer = new TtyRenderer({ model, write: (text) => screen += text, columns: () => 80 });
  renderer.start();
  renderer.refresh();
  renderer.refresh();
  renderer.stop();
  assert.ok(screen.includes("\x1b[2F\x1b[J"));
  assert.ok(!screen.includes("\x1b[2J"));
  assert.ok(screen.includes(String.raw`x\x1b[2Jy`));
});
