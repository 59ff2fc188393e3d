package pgsvc.testing;

import java.time.Duration;
import java.util.concurrent.Callable;

/** Waits for a condition by polling it until a deadline: the alternative to sleeping and hoping. */
public final class Await {

    private static final long POLL_MILLIS = 25;

    private Await() {
    }

    /**
     * Polls {@code condition} until it returns true. An exception from the condition counts as "not yet" (a server
     * still starting refuses connections); the last one is attached if the deadline passes.
     */
    public static void until(Duration timeout, String what, Callable<Boolean> condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (true) {
            try {
                if (Boolean.TRUE.equals(condition.call())) {
                    return;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting until " + what, e);
            } catch (Exception e) {
                last = e;
            }
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("timed out after " + timeout + " waiting until " + what, last);
            }
            try {
                Thread.sleep(POLL_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting until " + what, e);
            }
        }
    }
}
