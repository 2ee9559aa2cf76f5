/**
 * A setting kept in sessionStorage: it survives a reload of this tab and is gone when the
 * tab closes. The gateway key lives here, never in the bundle, a cookie or localStorage.
 */
import { useCallback, useState } from 'react';

function read(name: string): string | null {
  try {
    return window.sessionStorage.getItem(name);
  } catch {
    // Storage can be disabled (privacy settings): the setting then lives in memory only.
    return null;
  }
}

function write(name: string, value: string): void {
  try {
    if (value === '') window.sessionStorage.removeItem(name);
    else window.sessionStorage.setItem(name, value);
  } catch {
    // See read().
  }
}

export function useSessionSetting<T extends string>(name: string, initial: T, allowed?: readonly T[]): [T, (value: T) => void] {
  const [value, setValue] = useState<T>(() => {
    const stored = read(name);
    return stored !== null && (allowed === undefined || (allowed as readonly string[]).includes(stored)) ? (stored as T) : initial;
  });
  const update = useCallback(
    (next: T) => {
      write(name, next);
      setValue(next);
    },
    [name],
  );
  return [value, update];
}
