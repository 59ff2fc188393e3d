package pgsvc.router;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import org.junit.jupiter.api.Test;

/** The log line is PgBouncer's: time with zone, [pid], LOG/WARNING/ERROR, the message; stack traces follow it. */
class LoggingTest {
    private static String line(Level level, String message, Throwable thrown) {
        LoggerContext ctx = new LoggerContext();
        Logging.PgBouncerLayout layout = new Logging.PgBouncerLayout();
        layout.setContext(ctx);
        layout.start();
        LoggingEvent event = new LoggingEvent("x", ctx.getLogger("x"), level, message, thrown, null);
        return layout.doLayout(event);
    }

    @Test
    void levelsAreNamedAsPgBouncerNamesThem() {
        String pid = "[" + ProcessHandle.current().pid() + "]";
        String info = line(Level.INFO, "C-1: db/user@127.0.0.1:5000 login attempt: db=db user=user tls=no", null);
        assertTrue(info.matches("\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} \\S+ \\Q" + pid
                + "\\E LOG C-1: db/user@127\\.0\\.0\\.1:5000 login attempt: db=db user=user tls=no\\R"), info);
        assertTrue(line(Level.WARN, "w", null).contains(pid + " WARNING w"));
        assertTrue(line(Level.ERROR, "e", null).contains(pid + " ERROR e"));
    }

    @Test
    void aStackTraceFollowsItsLine() {
        String text = line(Level.ERROR, "failed", new IllegalStateException("boom"));
        assertTrue(text.contains("ERROR failed"), text);
        assertTrue(text.contains("java.lang.IllegalStateException: boom"), text);
    }
}
