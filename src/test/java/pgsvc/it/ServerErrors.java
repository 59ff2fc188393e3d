package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;

import org.junit.jupiter.api.function.Executable;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

/** Assertions on the ErrorResponse a client received: severity, SQLSTATE and the exact text. */
final class ServerErrors {
    private ServerErrors() {
    }

    /** Runs a pgjdbc action that must fail with this FATAL ErrorResponse from the other side (not a client error). */
    static ServerErrorMessage assertFatal(String sqlState, String message, Executable action) {
        PSQLException e = assertThrows(PSQLException.class, action);
        ServerErrorMessage m = e.getServerErrorMessage();
        assertNotNull(m, () -> "expected an ErrorResponse, got a client-side error: " + e);
        assertEquals(message, m.getMessage(), () -> "message of " + m);
        assertEquals(sqlState, m.getSQLState(), () -> "SQLSTATE of " + m);
        assertEquals("FATAL", m.getSeverity(), () -> "severity of " + m);
        return m;
    }

    /** The same for an ErrorResponse read off the wire. */
    static void assertFatal(String sqlState, String message, WireClient.Message m) {
        assertEquals('E', m.type(), () -> "expected an ErrorResponse, got '" + m.type() + "'");
        Map<Character, String> f = m.fields();
        assertEquals(message, f.get('M'), () -> "message of " + f);
        assertEquals(sqlState, f.get('C'), () -> "SQLSTATE of " + f);
        assertEquals("FATAL", f.get('S'), () -> "severity of " + f);
    }
}
