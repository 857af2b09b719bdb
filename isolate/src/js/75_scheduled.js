// Cron triggers: the runtime calls rw.runScheduled(handler, env, ctx, time,
// cron) for a scheduled event (scheduled.rs) and waits for the promise it
// returns, which always fulfills with [ok, noRetry, error].
(function scheduled(ops, rw) {
  "use strict";

  const kNoRetry = Symbol("noRetry");

  // The `controller` a scheduled() handler gets, as in Workers.
  class ScheduledController {
    constructor(scheduledTime, cron) {
      this.scheduledTime = scheduledTime;
      this.cron = cron;
      this.type = "scheduled";
      this[kNoRetry] = false;
    }
    // Don't retry this event should it fail.
    noRetry() {
      this[kNoRetry] = true;
    }
    get [Symbol.toStringTag]() {
      return "ScheduledController";
    }
  }
  rw.define("ScheduledController", ScheduledController);

  rw.runScheduled = function runScheduled(handler, env, ctx, time, cron) {
    const controller = new ScheduledController(time, cron);
    const call = () => {
      if (handler === null || typeof handler !== "object" || typeof handler.scheduled !== "function") {
        throw new TypeError("the script's default export has no scheduled(controller, env, ctx) handler");
      }
      return handler.scheduled(controller, env, ctx);
    };
    return Promise.resolve()
      .then(call)
      .then(
        () => [true, controller[kNoRetry], undefined],
        (e) => [false, controller[kNoRetry], e],
      );
  };
});
