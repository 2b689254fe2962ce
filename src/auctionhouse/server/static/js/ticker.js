// One shared timer: redraws countdowns and clocks about four times a second from house time.

import { clock } from "./clock.js";

const tickers = new Set();

// fn(now) runs now and then every 250 ms with house time; returns a stop function.
export function onTick(fn) {
  tickers.add(fn);
  fn(clock.now());
  return () => tickers.delete(fn);
}

setInterval(() => {
  const now = clock.now();
  for (const fn of tickers) {
    try {
      fn(now);
    } catch (e) {
      console.error(e);
    }
  }
}, 250);
