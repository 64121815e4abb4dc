import * as fs from "node:fs";

import { STATE_FILE, readState } from "./state";

export default async function globalTeardown(): Promise<void> {
  if (!fs.existsSync(STATE_FILE)) return;
  const state = readState();
  for (const pid of [state.tlsPid, state.bundlePid, state.pid]) {
    try {
      if (pid) process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  fs.rmSync(state.tmp, { recursive: true, force: true });
  fs.rmSync(STATE_FILE, { force: true });
}
