import { memoryPglite } from '../helpers/databases.js';
import { convergenceSuite } from './convergence-suite.js';

convergenceSuite('PGlite', memoryPglite, 200);
