// What global setup hands the tests: where the server is and the admin password it printed.
import * as fs from "node:fs";
import * as path from "node:path";

export const STATE_FILE = path.resolve(__dirname, "..", ".e2e-state", "state.json");

export interface E2eState {
  pid: number;
  baseURL: string;
  adminPassword: string;
  tmp: string;
}

export function readState(): E2eState {
  return JSON.parse(fs.readFileSync(STATE_FILE, "utf8")) as E2eState;
}
