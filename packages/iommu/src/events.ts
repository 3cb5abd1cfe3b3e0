/**
 * The event stream: one event per Linux IOMMU tracepoint (include/trace/events/iommu.h), with the
 * tracepoint's fields. Events are only built while someone listens.
 */

/** `add_device_to_group`: a device joined a group. */
export interface AddDeviceToGroupEvent {
  readonly type: "add_device_to_group";
  readonly groupId: number;
  readonly device: string;
}
/** `remove_device_from_group`: a device left its group. */
export interface RemoveDeviceFromGroupEvent {
  readonly type: "remove_device_from_group";
  readonly groupId: number;
  readonly device: string;
}
/** `attach_device_to_domain`: a device's translation now points at a domain. */
export interface AttachDeviceToDomainEvent {
  readonly type: "attach_device_to_domain";
  readonly device: string;
  /** Domain id (the tracepoint carries only the device; the id helps tests). */
  readonly domainId: number;
}
/** `detach_device_from_domain`: a device left a domain (it moves to its group's core domain). */
export interface DetachDeviceFromDomainEvent {
  readonly type: "detach_device_from_domain";
  readonly device: string;
  readonly domainId: number;
}
/** `map`: a successful `iommu_map` of `size` bytes. */
export interface MapEvent {
  readonly type: "map";
  readonly domainId: number;
  readonly iova: bigint;
  readonly paddr: bigint;
  readonly size: bigint;
}
/** `unmap`: an `iommu_unmap` asked for `size` bytes and tore down `unmappedSize`. */
export interface UnmapEvent {
  readonly type: "unmap";
  readonly domainId: number;
  readonly iova: bigint;
  readonly size: bigint;
  readonly unmappedSize: bigint;
}
/** `io_page_fault`: a fault reported to the core. */
export interface IoPageFaultEvent {
  readonly type: "io_page_fault";
  readonly device: string;
  /** Name of the IOMMU driver that reported it. */
  readonly driver: string;
  readonly iova: bigint;
  readonly flags: number;
}

/** Any event of the stream. */
export type IommuEvent =
  | AddDeviceToGroupEvent
  | RemoveDeviceFromGroupEvent
  | AttachDeviceToDomainEvent
  | DetachDeviceFromDomainEvent
  | MapEvent
  | UnmapEvent
  | IoPageFaultEvent;

/** A subscriber. */
export type IommuEventListener = (event: IommuEvent) => void;

/** A minimal synchronous event stream. */
export interface EventStream {
  /** True when at least one listener is subscribed: emitters build events only then. */
  readonly active: boolean;
  /** Subscribes; returns the unsubscribe function. */
  subscribe(listener: IommuEventListener): () => void;
  /** Delivers an event to every listener, in subscription order. */
  emit(event: IommuEvent): void;
}

/** Creates an empty {@link EventStream}. */
export function createEventStream(): EventStream {
  let listeners: IommuEventListener[] = [];
  return {
    get active() {
      return listeners.length > 0;
    },
    subscribe(listener) {
      listeners = [...listeners, listener];
      return () => {
        listeners = listeners.filter((l) => l !== listener);
      };
    },
    emit(event) {
      for (const listener of listeners) listener(event);
    },
  };
}
