package pgsvc.pooler;

import java.util.Queue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

import org.jctools.queues.MpscUnboundedXaddArrayQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs tasks one at a time, in submission order, on whichever thread submits while nobody else is draining.
 * A pool's state is touched only inside its executor, so it needs no lock, and no event loop ever waits on another:
 * a submitter that finds the executor busy leaves its task in the queue for the current drainer and returns.
 */
final class SerialExecutor implements Executor {
    private static final Logger log = LoggerFactory.getLogger(SerialExecutor.class);

    private final Queue<Runnable> tasks = new MpscUnboundedXaddArrayQueue<>(64);
    private final AtomicInteger wip = new AtomicInteger();

    @Override
    public void execute(Runnable task) {
        int missed;
        if (wip.compareAndSet(0, 1)) {
            // Nobody draining and nothing queued: run it here, without a trip through the queue.
            run(task);
            missed = wip.decrementAndGet();
            if (missed == 0) {
                return;
            }
        } else {
            tasks.offer(task);
            if (wip.getAndIncrement() != 0) {
                return;
            }
            missed = 1;
        }
        // What others left for us while we ran: every increment of wip follows its task's offer.
        do {
            Runnable next;
            while ((next = tasks.poll()) != null) {
                run(next);
            }
            missed = wip.addAndGet(-missed);
        } while (missed != 0);
    }

    private static void run(Runnable task) {
        try {
            task.run();
        } catch (Throwable t) {
            log.error("pool task failed", t);
        }
    }
}
