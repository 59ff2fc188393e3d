package pgsvc.router;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import org.junit.jupiter.api.Test;

/** The log line is PgBouncer's: time with zone, [pid], LOG/WARNING/ERROR, the message; stack traces follow it. */
class LoggingTest {
    private static Logging.PgBouncerLayout layout(LoggerContext ctx) {
        Logging.PgBouncerLayout layout = new Logging.PgBouncerLayout();
        layout.setContext(ctx);
        layout.start();
        return layout;
    }

    private static String line(Level level, String message, Throwable thrown) {
        LoggerContext ctx = new LoggerContext();
        LoggingEvent event = new LoggingEvent("x", ctx.getLogger("x"), level, message, thrown, null);
        return layout(ctx).doLayout(event);
    }

    @Test
    void theTimeIsWhatJavaTimeFormatsAcrossSecondsAndMilliseconds() {
        LoggerContext ctx = new LoggerContext();
        Logging.PgBouncerLayout layout = layout(ctx);
        DateTimeFormatter reference = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS z");
        long base = 1_767_225_599_000L; // 2025-12-31 23:59:59 UTC: the next second is another day and year
        // The same second twice (the cached part reused), a leading-zero millisecond, the next second, and back.
        for (long millis : new long[] {base + 7, base + 999, base + 1000, base + 1050, base + 7, base - 1}) {
            LoggingEvent event = new LoggingEvent("x", ctx.getLogger("x"), Level.INFO, "m", null, null);
            event.setTimeStamp(millis);
            String expected = reference.format(Instant.ofEpochMilli(millis).atZone(ZoneId.systemDefault()));
            String text = layout.doLayout(event);
            assertTrue(text.startsWith(expected + " ["), millis + ": " + text + " expected " + expected);
        }
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
