package pgsvc.pooler.auth;

/**
 * A failed authentication. {@link #getMessage()} is the text a client may see (PgBouncer's wording, e.g.
 * {@code SASL authentication failed}); {@link #detail()} says what exactly went wrong, for the log only, because
 * telling an unauthenticated peer why its proof was refused helps an attacker more than a user.
 */
public final class AuthException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String detail;

    public AuthException(String message) {
        this(message, message);
    }

    public AuthException(String message, String detail) {
        // No stack trace: failures are expected input, often hostile, and must stay cheap to produce.
        super(message, null, false, false);
        this.detail = detail;
    }

    /** What went wrong, for the log; equal to the message when there is nothing more to say. */
    public String detail() {
        return detail;
    }
}
