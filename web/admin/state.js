// What the dashboard has loaded, shared by its sections.
export const state = { networks: [], ensembles: [], activeId: null, editing: null };

export function resetState() {
  Object.assign(state, { networks: [], ensembles: [], activeId: null, editing: null });
}

export function networkName(networkId) {
  const found = state.networks.find((network) => network.network_id === networkId);
  return found ? found.name : networkId;
}
