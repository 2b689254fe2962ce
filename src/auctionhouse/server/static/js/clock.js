// The house clock as the page sees it: an offset from the browser's clock, never the browser's
// clock alone (it may be minutes wrong). Same estimate as auctionhouse.client.clock.ServerClock:
// a /time answer was taken between sending and receiving, so its best estimate is the midpoint,
// and the sample with the shortest round trip wins; a pushed server_time is a lower bound on the
// house's time at arrival, so one ahead of the estimate moves the estimate forward.

export class ServerClock {
  constructor() {
    this.offset = 0;
    this.synced = false;
    this.bestRtt = Infinity;
    this.bestAt = 0;
  }

  local() {
    return Date.now() / 1000;
  }

  now() {
    return this.local() + this.offset;
  }

  sample(sent, serverNow, received) {
    const rtt = Math.max(0, received - sent);
    if (!this.synced || rtt <= this.bestRtt || received - this.bestAt > 60) {
      this.bestRtt = rtt;
      this.bestAt = received;
      this.offset = serverNow - (sent + rtt / 2);
      this.synced = true;
    }
  }

  observe(serverTime) {
    if (typeof serverTime !== "number") return;
    const floor = serverTime - this.local();
    if (!this.synced || floor > this.offset) {
      this.offset = floor;
      this.synced = true;
    }
  }

  remaining(deadline) {
    if (deadline === null || deadline === undefined) return null;
    return Math.max(0, deadline - this.now());
  }
}

export const clock = new ServerClock();
