import type { ErrorView } from '../errors';
import { retryText } from '../errors';

/** An error as the gateway gave it: its code, its message, and when to retry. */
export function ErrorNotice({ error }: { error: ErrorView }) {
  return (
    <div className="error" role="alert">
      <strong className="error-code">{error.code}</strong> {error.message}
      {error.retryAfterMs !== null && (
        <span className="error-retry">
          {' '}
          ({retryText(error.retryAfterMs)}
          {error.limit !== null && `; limit: ${error.limit}`})
        </span>
      )}
    </div>
  );
}
