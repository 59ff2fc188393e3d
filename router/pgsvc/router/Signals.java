package pgsvc.router;

import java.util.concurrent.atomic.AtomicBoolean;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * PgBouncer's signals: HUP reload, INT safe shutdown (wait for servers), TERM wait for clients (1.23+), a second
 * INT or TERM exits at once, USR1 pause, USR2 resume. systemd hears of each through {@link SdNotify}.
 *
 * <p>PgBouncer's QUIT (immediate shutdown) cannot be had: HotSpot keeps SIGQUIT for its thread dump and refuses a
 * handler for it, and {@code -Xrs}, which gives it up, does not hand it over either while it takes INT, TERM and HUP
 * away. So QUIT prints the JVM's thread dump and pgsvc carries on; the console's SHUTDOWN, or a second INT or TERM,
 * is the immediate shutdown.
 */
final class Signals {
    private static final Logger log = LoggerFactory.getLogger(Signals.class);

    private Signals() {
    }

    static void install(Pgsvc pgsvc, SdNotify systemd) {
        AtomicBoolean stopping = new AtomicBoolean();
        handle("HUP", () -> {
            systemd.reloading();
            pgsvc.reload();
            systemd.ready();
        });
        handle("USR1", () -> pgsvc.pooler().pause(null, () -> log.info("PAUSE done: all servers released")));
        handle("USR2", () -> pgsvc.pooler().resume(null));
        handle("INT", () -> {
            if (stopping.getAndSet(true)) {
                System.exit(0);
            }
            log.info("got SIGINT, shutting down, waiting for servers");
            systemd.stopping();
            pgsvc.shutdown(false, () -> System.exit(0));
        });
        handle("TERM", () -> {
            if (stopping.getAndSet(true)) {
                System.exit(0);
            }
            log.info("got SIGTERM, shutting down, waiting for clients");
            systemd.stopping();
            pgsvc.shutdown(true, () -> System.exit(0));
        });
    }

    private static void handle(String name, Runnable action) {
        try {
            if (Signal.handle(new Signal(name), s -> action.run()) == SignalHandler.SIG_IGN) {
                // HotSpot leaves a signal that was ignored at exec ignored (and says so only through this return
                // value): a shell without job control does that to INT for "pgsvc &", nohup to HUP.
                log.warn("SIG{} was ignored by the process that started pgsvc, and stays ignored: start pgsvc "
                        + "without that (as a service, or through \"env --default-signal={}\")", name, name);
            }
        } catch (IllegalArgumentException e) {
            log.warn("cannot handle SIG{}: {}", name, e.getMessage());
        }
    }
}
