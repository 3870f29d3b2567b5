/** A small typed event emitter shared by the client and its subscriptions. */

type Listener<T> = (payload: T) => void;

/**
 * Emits events named by the keys of `E`, each with the payload type `E[key]`. A listener that
 * throws does not disturb the emitter or other listeners: its error is rethrown on its own.
 */
export class Emitter<E extends object> {
  readonly #listeners = new Map<keyof E, Set<Listener<never>>>();

  /** Adds a listener and returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener called at most once. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** Removes a listener. */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Whether anything listens to `event`. */
  protected listens(event: keyof E): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  protected emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<E[K]>)(payload);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
